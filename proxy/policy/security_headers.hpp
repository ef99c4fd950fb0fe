// security_headers: HSTS (TLS listeners only), CSP and the other browser security headers, each
// set over the upstream's or only when the upstream sent none; and headers removed from every
// response (Server, X-Powered-By). Applies to Rampart's own responses too (404, 502, ...).
#pragma once
#include "policy/policy.hpp"

namespace rampart::policy {

class SecurityHeaders final : public Policy {
 public:
  explicit SecurityHeaders(config::SecurityHeadersSpec spec);
  std::string_view kind() const override { return "security_headers"; }
  void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const override;

 private:
  config::SecurityHeadersSpec spec_;
  // The field lines, rendered once ("name: value\r\n"; values are checked by the config loader).
  std::string hsts_line_;
  std::vector<std::string> lines_;  // parallel to spec_.headers
};

}  // namespace rampart::policy
