// compression: gzip / brotli response bodies, negotiated by the request's Accept-Encoding.
//
// The policy only decides (decide(): a coding, a level, whether to add Vary); the session applies
// the decision to the response head and runs the body through its worker's http::Encoder. It is
// kept apart from the header chain (Chain::compression()).
//
// A response is compressed only when all of these hold:
//  - its status carries a full representation worth compressing: 200, 201, 202, 203, or an error
//    page (400..599). Never 1xx, 204, 205, 206, 3xx (304 and redirects carry no or tiny bodies);
//  - its media type is listed in content_types (exact match; an entry "type/*" matches every
//    subtype of that type);
//  - it has no Content-Encoding yet (or only "identity") and no Content-Range;
//  - its Cache-Control does not say no-transform;
//  - its length is unknown (chunked / until close) or at least min_length (and never 0);
//  - the client accepts one of the configured algorithms (negotiate()).
// HEAD requests are decided exactly like GET, so their Content-Encoding and Vary match what a GET
// would get (the session sends no body for them anyway).
// Vary: Accept-Encoding is asked for on every response that passes the rules before negotiation,
// whatever the client accepted, so shared caches key the stored variants on Accept-Encoding.
#pragma once
#include "http/encoder.hpp"
#include "policy/policy.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::policy {

// The content coding to answer with, from an Accept-Encoding value and the codings the server
// offers in its preference order (RFC 9110 §12.5.3):
//  - members are "coding" or "coding;q=<qvalue>", case-insensitive; "x-gzip" means gzip; a member
//    whose weight is not a valid qvalue (or that has other parameters) is ignored;
//  - q=0 refuses a coding; "*" gives its weight to every coding not listed by name; a coding
//    listed more than once takes its highest weight;
//  - the acceptable offered coding with the highest weight wins, a tie goes to the earlier one in
//    `offered`;
//  - identity wins instead when it is listed (by name, or through "*") with a higher weight than
//    that coding (e.g. "gzip;q=0.5, identity");
//  - an empty value (or an absent header) means identity only.
// Returns identity when nothing offered is acceptable. Does not allocate.
http::Coding negotiate(std::string_view accept_encoding, std::span<const http::Coding> offered) noexcept;

class Compression final : public Policy {
 public:
  // Throws std::invalid_argument on what the config loader rejects (an unknown algorithm, a level
  // out of range), for specs built by hand.
  explicit Compression(config::CompressionSpec spec);
  std::string_view kind() const override { return "compression"; }
  std::uint8_t needs() const override { return kNeedContentType; }
  // The session applies decide() itself; there are no header edits here.
  void on_response(const ResponseContext&, http::HeaderEdits&) const override {}

  // What decide() looks at. Views valid during the call.
  struct Input {
    int status = 0;
    bool head_request = false;
    std::string_view media_type;        // lower-case, no params ("" if none)
    std::string_view content_encoding;  // the response's Content-Encoding ("" if none)
    std::string_view cache_control;     // the response's Cache-Control joined ("" if none)
    bool has_content_range = false;     // Content-Range present
    std::optional<std::uint64_t> content_length;  // nullopt when the body length is unknown (chunked/close)
    std::string_view accept_encoding;   // the request's Accept-Encoding joined with ", " ("" if none)
  };
  // coding identity: send the body as it is. Otherwise: compress at `level`, replace
  // Content-Length by chunked framing, set Content-Encoding, weaken a strong ETag (weak_etag()).
  // vary: add "Accept-Encoding" to Vary (also when coding is identity).
  struct Decision {
    http::Coding coding = http::Coding::identity;
    int level = 0;
    bool vary = false;
  };
  Decision decide(const Input& in) const noexcept;

  // The ETag of a compressed representation: W/"x" stays, "x" becomes W/"x". Returns "" for a value
  // that is not an entity-tag (the session then drops the field rather than keep a strong one).
  static std::string weak_etag(std::string_view etag);

  // The offered codings, in preference order.
  std::span<const http::Coding> offered() const { return {offered_.data(), offered_.size()}; }
  const config::CompressionSpec& spec() const { return spec_; }

 private:
  bool media_type_allowed(std::string_view type) const noexcept;

  config::CompressionSpec spec_;
  std::vector<http::Coding> offered_;
  std::vector<std::string> type_prefixes_;  // "text/" for an entry "text/*"
};

}  // namespace rampart::policy
