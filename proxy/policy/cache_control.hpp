// cache_control: rules matched on the request path (regex, prefix, file extension), the response
// media type and status, first match wins; each sets Cache-Control (over the upstream's, or only
// when it sent none), adds to Vary and may strip Set-Cookie from cacheable static responses.
// The `spa` preset encodes a single-page app: /api/ no-store, hashed assets a year and immutable,
// HTML no-cache. 304 responses are never touched (conditional requests pass through as they are).
#pragma once
#include "policy/policy.hpp"

#include <optional>
#include <regex>

namespace rampart::policy {

class CacheControl final : public Policy {
 public:
  explicit CacheControl(const config::CacheControlSpec& spec);
  std::string_view kind() const override { return "cache_control"; }
  std::uint8_t needs() const override { return kNeedContentType; }
  void on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const override;

  // The rules the `spa` preset adds.
  static std::vector<config::CacheRuleSpec> spa_rules();
  // The spa preset's hashed-asset test, without a regex (it runs on most static requests): the
  // file name ends in [.-]<8+ hex digits>.<asset extension>.
  static bool hashed_asset(std::string_view path);

 private:
  struct Rule {
    config::CacheRuleSpec spec;
    std::optional<std::regex> path_re;
    bool hashed_asset = false;  // the spa preset's asset rule: hashed_asset() instead of the regex
  };
  bool matches(const Rule& r, const ResponseContext& ctx) const;
  std::vector<Rule> rules_;
};

}  // namespace rampart::policy
