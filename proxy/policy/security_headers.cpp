#include "policy/security_headers.hpp"

namespace rampart::policy {

void SecurityHeaders::on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const {
  using Kind = http::HeaderEdit::Kind;
  for (const std::string& name : spec_.remove) edits.push({Kind::remove, name, {}});
  if (spec_.hsts && ctx.tls) edits.push({Kind::set, "strict-transport-security", *spec_.hsts});
  for (const auto& [name, value] : spec_.headers)
    edits.push({value.mode == config::HeaderValueSpec::Mode::set ? Kind::set : Kind::set_default, name, value.value});
}

}  // namespace rampart::policy
