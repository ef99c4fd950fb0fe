#include "policy/policy.hpp"

#include "policy/access.hpp"
#include "policy/cache_control.hpp"
#include "policy/compression.hpp"
#include "policy/cors.hpp"
#include "policy/rate_limit.hpp"
#include "policy/security_headers.hpp"

#include <cctype>
#include <stdexcept>

namespace rampart::policy {

void Chain::add(std::shared_ptr<const Policy> p) {
  needs_ |= p->needs();
  if (p->kind() == "compression") {
    compression_ = std::static_pointer_cast<const Compression>(std::move(p));
    return;
  }
  policies_.push_back(std::move(p));
}

std::vector<std::string> Chain::kinds() const {
  std::vector<std::string> out;
  for (const auto& p : policies_) out.emplace_back(p->kind());
  if (compression_) out.emplace_back("compression");
  return out;
}

// An explicit table, no static self-registration (ARCHITECTURE.md): a new policy adds a line.
std::shared_ptr<const Policy> build(const config::PolicySpec& spec) {
  if (spec.security_headers) return std::make_shared<SecurityHeaders>(*spec.security_headers);
  if (spec.cache_control) return std::make_shared<CacheControl>(*spec.cache_control);
  if (spec.cors) return std::make_shared<Cors>(*spec.cors);
  if (spec.access) return std::make_shared<Access>(*spec.access);
  if (spec.rate_limit) return std::make_shared<RateLimit>(spec.name, *spec.rate_limit);
  if (spec.compression) return std::make_shared<Compression>(*spec.compression);
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
