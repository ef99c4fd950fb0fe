// Edge policies: small units behind one interface, built once per snapshot from their specs,
// const and shared by every worker. A route runs a chain: its server's policies (minus the ones
// it says `without`, and minus those of a kind it brings itself), then its own.
//
// This file: the interface, the chain, and the factory table (kind -> builder). One file pair
// per policy: security_headers, cache_control, cors, access.
#pragma once
#include "config/spec.hpp"
#include "http/forward.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::policy {

// What the request policies see. Views valid during the call.
struct RequestContext {
  std::string_view method;            // as received
  std::string_view path;
  std::string_view origin;            // Origin ("" if none)
  std::string_view preflight_method;  // Access-Control-Request-Method ("" if none)
  const core::IpAddress* client = nullptr;  // the client (after trusted X-Forwarded-For); null if unknown
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

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view kind() const = 0;
  // Before routing to the upstream: a status to answer with at the edge (the response hooks
  // still run on that answer), or 0 to go on.
  virtual int on_request(const RequestContext&) const { return 0; }
  // Adds header edits for this response (views into the policy's own config, or the context's).
  virtual void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const = 0;
};

class Chain {
 public:
  void add(std::shared_ptr<const Policy> p) { policies_.push_back(std::move(p)); }
  bool empty() const { return policies_.empty(); }
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
};

// The factory table: a policy from its spec (the kind the spec has). Throws std::runtime_error on
// what the config loader cannot check (none today).
std::shared_ptr<const Policy> build(const config::PolicySpec& spec);

// The lower-case media type of a Content-Type value ("text/html; charset=utf-8" -> "text/html"),
// written into `out` (reused storage).
void media_type(std::string_view content_type, std::string& out);

}  // namespace rampart::policy
