// cors: answers preflights (OPTIONS with Access-Control-Request-Method) at the edge, without the
// upstream, and adds the CORS response headers for allowed origins. A disallowed origin gets no
// CORS header at all; an answer that depends on the Origin says `Vary: Origin`.
#pragma once
#include "policy/policy.hpp"

namespace rampart::policy {

class Cors final : public Policy {
 public:
  explicit Cors(config::CorsSpec spec);
  std::string_view kind() const override { return "cors"; }
  std::uint8_t needs() const override { return kNeedOrigin; }
  int on_request(const RequestContext& ctx) const override;
  void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const override;

  // Whether `origin` ("scheme://host[:port]") is allowed.
  bool allows(std::string_view origin) const;

 private:
  config::CorsSpec spec_;
  std::string methods_, headers_, expose_, max_age_;  // joined header values
  // The same as whole field lines ("name: value\r\n"), rendered once.
  std::string credentials_line_, methods_line_, headers_line_, expose_line_, max_age_line_;
};

}  // namespace rampart::policy
