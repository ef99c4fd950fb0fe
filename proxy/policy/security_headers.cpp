#include "policy/security_headers.hpp"

namespace rampart::policy {

SecurityHeaders::SecurityHeaders(config::SecurityHeadersSpec spec) : spec_(std::move(spec)) {
  if (spec_.hsts) hsts_line_ = "strict-transport-security: " + *spec_.hsts + "\r\n";
  lines_.reserve(spec_.headers.size());
  for (const auto& [name, value] : spec_.headers) lines_.push_back(name + ": " + value.value + "\r\n");
}

void SecurityHeaders::on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const {
  using Kind = http::HeaderEdit::Kind;
  for (const std::string& name : spec_.remove) edits.push({Kind::remove, name, {}});
  if (spec_.hsts && ctx.tls) edits.push({Kind::set, "strict-transport-security", *spec_.hsts, hsts_line_});
  for (std::size_t i = 0; i < spec_.headers.size(); ++i) {
    const auto& [name, value] = spec_.headers[i];
    edits.push({value.mode == config::HeaderValueSpec::Mode::set ? Kind::set : Kind::set_default, name, value.value,
                lines_[i]});
  }
}

}  // namespace rampart::policy
