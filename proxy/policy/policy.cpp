#include "policy/policy.hpp"

#include "policy/access.hpp"
#include "policy/cache_control.hpp"
#include "policy/cors.hpp"
#include "policy/security_headers.hpp"

#include <cctype>
#include <stdexcept>

namespace rampart::policy {

std::vector<std::string> Chain::kinds() const {
  std::vector<std::string> out;
  for (const auto& p : policies_) out.emplace_back(p->kind());
  return out;
}

// An explicit table, no static self-registration (ARCHITECTURE.md): a new policy adds a line.
std::shared_ptr<const Policy> build(const config::PolicySpec& spec) {
  if (spec.security_headers) return std::make_shared<SecurityHeaders>(*spec.security_headers);
  if (spec.cache_control) return std::make_shared<CacheControl>(*spec.cache_control);
  if (spec.cors) return std::make_shared<Cors>(*spec.cors);
  if (spec.access) return std::make_shared<Access>(*spec.access);
  throw std::runtime_error("policy '" + spec.name + "' has no kind");
}

void media_type(std::string_view content_type, std::string& out) {
  out.clear();
  for (char c : content_type) {
    if (c == ';') break;
    if (c == ' ' || c == '\t') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
}

}  // namespace rampart::policy
