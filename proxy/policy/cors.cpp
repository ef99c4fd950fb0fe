#include "policy/cors.hpp"

#include <cctype>

namespace rampart::policy {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

bool iequal(std::string_view a, std::string_view b) { return http::iequals(a, b); }

}  // namespace

Cors::Cors(config::CorsSpec spec) : spec_(std::move(spec)) {
  methods_ = join(spec_.methods);
  headers_ = join(spec_.headers);
  expose_ = join(spec_.expose_headers);
  if (spec_.max_age) max_age_ = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*spec_.max_age).count());
  auto line = [](std::string_view name, const std::string& value) {
    return std::string(name) + ": " + value + "\r\n";
  };
  credentials_line_ = line("access-control-allow-credentials", "true");
  methods_line_ = line("access-control-allow-methods", methods_);
  headers_line_ = line("access-control-allow-headers", headers_);
  expose_line_ = line("access-control-expose-headers", expose_);
  max_age_line_ = line("access-control-max-age", max_age_);
}

bool Cors::allows(std::string_view origin) const {
  if (origin.empty() || origin == "null") return false;
  if (spec_.any_origin) return true;
  for (const std::string& allowed : spec_.origins) {
    const auto star = allowed.find("://*.");
    if (star == std::string::npos) {
      if (iequal(allowed, origin)) return true;
      continue;
    }
    // "https://*.example.com[:port]": same scheme, any subdomain of example.com, same port.
    const std::string_view scheme = std::string_view(allowed).substr(0, star + 3);
    const std::string_view suffix = std::string_view(allowed).substr(star + 4);  // ".example.com[:port]"
    if (origin.size() <= scheme.size() + suffix.size()) continue;
    if (!iequal(origin.substr(0, scheme.size()), scheme)) continue;
    if (!iequal(origin.substr(origin.size() - suffix.size()), suffix)) continue;
    const std::string_view label = origin.substr(scheme.size(), origin.size() - scheme.size() - suffix.size());
    bool ok = !label.empty();
    for (char c : label) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.');
    if (ok) return true;
  }
  return false;
}

int Cors::on_request(const RequestContext& ctx) const {
  // A preflight is the browser asking; the upstream never sees it, allowed or not.
  if (ctx.method == "OPTIONS" && !ctx.origin.empty() && !ctx.preflight_method.empty()) return 204;
  return 0;
}

void Cors::on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const {
  using Kind = http::HeaderEdit::Kind;
  // Whether an Origin is allowed decides the headers, so caches must key on it (not for "*"
  // without credentials: the answer is then the same for everyone).
  const bool echo = !spec_.any_origin || spec_.credentials;
  if (echo) edits.push({Kind::vary, "Origin", {}});
  if (!allows(ctx.origin)) return;
  edits.push({Kind::set, "access-control-allow-origin", echo ? ctx.origin : std::string_view("*")});
  if (spec_.credentials) edits.push({Kind::set, "access-control-allow-credentials", "true", credentials_line_});
  if (ctx.preflight) {
    edits.push({Kind::set, "access-control-allow-methods", methods_, methods_line_});
    if (!headers_.empty()) edits.push({Kind::set, "access-control-allow-headers", headers_, headers_line_});
    if (!max_age_.empty()) edits.push({Kind::set, "access-control-max-age", max_age_, max_age_line_});
  } else if (!expose_.empty()) {
    edits.push({Kind::set, "access-control-expose-headers", expose_, expose_line_});
  }
}

}  // namespace rampart::policy
