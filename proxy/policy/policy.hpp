// Edge policies: small units behind one interface, built once per snapshot from their specs,
// const and shared by every worker. A route runs a chain: its server's policies (minus the ones
// it says `without`, and minus those of a kind it brings itself), then its own.
//
// This file: the interface, the chain, and the factory table (kind -> builder). One file pair
// per policy: security_headers, cache_control, cors, access.
#pragma once
#include "config/spec.hpp"
#include "http/forward.hpp"

#include "http/message.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::policy {

// A rate limit's decision on one request, for metrics and the access log.
enum class RateDecision : std::uint8_t { allowed, limited, dry_run_limited, over_key_bound };
constexpr std::size_t kRateDecisions = 4;

// What request policies leave for the rest of one exchange. Owned by the session (reused per
// exchange: clear() before the chain runs); written only by on_request.
struct RequestNotes {
  // Complete header lines ("Name: value\r\n") added to this exchange's response, whatever it is
  // (proxied, a local answer, an error): RateLimit-Policy, RateLimit, Retry-After.
  std::string header_lines;
  // Each rate limit that ran: its metrics id (RateLimit::metrics_id()) and its decision.
  struct Rate {
    std::uint32_t limit_id;
    RateDecision decision;
  };
  static constexpr std::size_t kMaxRates = 8;
  std::array<Rate, kMaxRates> rates{};
  std::size_t rate_count = 0;
  void add_rate(std::uint32_t id, RateDecision d) {
    if (rate_count < kMaxRates) rates[rate_count++] = {id, d};
  }
  void clear() {
    header_lines.clear();
    rate_count = 0;
  }
};

// What the request policies see. Views valid during the call.
struct RequestContext {
  std::string_view method;            // as received
  std::string_view path;
  std::string_view origin;            // Origin ("" if none)
  std::string_view preflight_method;  // Access-Control-Request-Method ("" if none)
  const core::IpAddress* client = nullptr;  // the client (after trusted X-Forwarded-For); null if unknown
  std::span<const http::Header> headers = {};  // every request header, as received
  std::string_view route = {};        // the matched route's name ("" without a route)
  RequestNotes* notes = nullptr;      // where request policies leave headers and decisions (never null in the proxy)
};

// What the response policies see of an exchange. Views valid during the call.
struct ResponseContext {
  int status = 0;
  std::string_view content_type;  // the response's media type, lower-case, without parameters ("" if none)
  std::string_view path;          // the request path (no query)
  bool tls = false;               // the listener terminates TLS
  std::string_view origin = {};   // the request's Origin ("" if none)
  bool preflight = false;         // a CORS preflight answered at the edge
};

// What a policy reads beyond the method, path and client, so the session gathers only that.
enum Need : std::uint8_t {
  kNeedOrigin = 1,       // RequestContext/ResponseContext origin and preflight_method
  kNeedContentType = 2,  // ResponseContext content_type
};

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view kind() const = 0;
  virtual std::uint8_t needs() const { return 0; }
  // Before routing to the upstream: a status to answer with at the edge (the response hooks
  // still run on that answer), or 0 to go on.
  virtual int on_request(const RequestContext&) const { return 0; }
  // Adds header edits for this response (views into the policy's own config, or the context's).
  virtual void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const = 0;
};

class Compression;

class Chain {
 public:
  // A compression policy is kept apart: it transforms bodies, the session asks for it by name.
  void add(std::shared_ptr<const Policy> p);
  bool empty() const { return policies_.empty() && !compression_; }
  // The union of the policies' needs() (Need bits).
  std::uint8_t needs() const { return needs_; }
  const Compression* compression() const { return compression_.get(); }
  int on_request(const RequestContext& ctx) const {
    for (const auto& p : policies_)
      if (int status = p->on_request(ctx)) return status;
    return 0;
  }
  void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const {
    for (const auto& p : policies_) p->on_response(ctx, edits);
  }
  std::vector<std::string> kinds() const;

 private:
  std::vector<std::shared_ptr<const Policy>> policies_;
  std::shared_ptr<const Compression> compression_;
  std::uint8_t needs_ = 0;
};

// The factory table: a policy from its spec (the kind the spec has). Throws std::runtime_error on
// what the config loader cannot check (none today).
std::shared_ptr<const Policy> build(const config::PolicySpec& spec);

// The lower-case media type of a Content-Type value ("text/html; charset=utf-8" -> "text/html"),
// written into `out` (reused storage).
void media_type(std::string_view content_type, std::string& out);

}  // namespace rampart::policy
