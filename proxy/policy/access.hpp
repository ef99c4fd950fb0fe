// access: client address allow/deny lists (the client as seen after trusted X-Forwarded-For), a
// method allow-list (405 with Allow), and denied paths (403, or 404 to hide them) matched on the
// normalised path, so "%2e%2e/", "//", "/./" or a backslash cannot reach a denied path.
#pragma once
#include "policy/policy.hpp"

namespace rampart::policy {

class Access final : public Policy {
 public:
  explicit Access(config::AccessSpec spec);
  std::string_view kind() const override { return "access"; }
  int on_request(const RequestContext& ctx) const override;
  void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const override;

  // Percent-decoded, backslashes as slashes, empty and "." segments dropped, ".." resolved
  // (never above the root).
  static std::string normalise(std::string_view path);

 private:
  config::AccessSpec spec_;
  std::string allow_;  // the Allow header of a 405
};

}  // namespace rampart::policy
