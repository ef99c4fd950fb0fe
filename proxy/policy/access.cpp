#include "policy/access.hpp"

#include <algorithm>
#include <vector>

namespace rampart::policy {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Access::Access(config::AccessSpec spec) : spec_(std::move(spec)) {
  for (const auto& m : spec_.methods) allow_ += (allow_.empty() ? "" : ", ") + m;
}

std::string Access::normalise(std::string_view path) {
  // Decoding is repeated until it changes nothing, so "%252e" cannot hide a "." from us either.
  std::string decoded(path);
  for (int round = 0; round < 3; ++round) {
    std::string next;
    next.reserve(decoded.size());
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      if (decoded[i] == '%' && i + 2 < decoded.size()) {
        const int hi = hex(decoded[i + 1]), lo = hex(decoded[i + 2]);
        if (hi >= 0 && lo >= 0) {
          next.push_back(static_cast<char>(hi * 16 + lo));
          i += 2;
          continue;
        }
      }
      next.push_back(decoded[i] == '\\' ? '/' : decoded[i]);
    }
    if (next == decoded) break;
    decoded = std::move(next);
  }
  std::vector<std::string_view> segments;
  std::string_view rest = decoded;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  std::string out;
  for (const auto& seg : segments) out.append("/").append(seg);
  return out.empty() ? "/" : out;
}

int Access::on_request(const RequestContext& ctx) const {
  if (!spec_.deny.empty() || !spec_.allow.empty()) {
    if (!ctx.client) return spec_.deny_status;  // an unknown client passes no address rule
    for (const auto& c : spec_.deny)
      if (c.contains(*ctx.client)) return spec_.deny_status;
    if (!spec_.allow.empty() &&
        std::none_of(spec_.allow.begin(), spec_.allow.end(), [&](const core::Cidr& c) { return c.contains(*ctx.client); }))
      return spec_.deny_status;
  }
  if (!spec_.methods.empty() && std::find(spec_.methods.begin(), spec_.methods.end(), ctx.method) == spec_.methods.end())
    return 405;
  if (!spec_.deny_paths.empty()) {
    const std::string path = normalise(ctx.path);
    for (const auto& denied : spec_.deny_paths) {
      if (denied == "/") return spec_.deny_status;
      if (path.starts_with(denied) && (path.size() == denied.size() || path[denied.size()] == '/')) return spec_.deny_status;
    }
  }
  return 0;
}

void Access::on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const {
  if (ctx.status == 405 && !allow_.empty()) edits.push({http::HeaderEdit::Kind::set, "allow", allow_});
}

}  // namespace rampart::policy
