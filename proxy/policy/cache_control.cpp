#include "policy/cache_control.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>

namespace rampart::policy {

std::vector<config::CacheRuleSpec> CacheControl::spa_rules() {
  std::vector<config::CacheRuleSpec> rules(3);
  // The API is never cached, whatever its status.
  rules[0].path_prefix = "/api/";
  rules[0].statuses.clear();
  rules[0].cache_control.value = "no-store";
  // Build outputs whose names carry a content hash (app.3f9a1c2b.js, chunk-5d41402a.css): a year.
  rules[1].path_regex = "[.-][0-9a-fA-F]{8,}\\.(js|mjs|css|map|woff2?|ttf|otf|eot|png|jpe?g|gif|svg|webp|avif|ico|wasm)$";
  rules[1].cache_control.value = "public, max-age=31536000, immutable";
  rules[1].strip_set_cookie = true;
  // The HTML shell: always revalidated, so a deploy is seen at once.
  rules[2].content_types = {"text/html"};
  rules[2].cache_control.value = "no-cache";
  return rules;
}

bool CacheControl::hashed_asset(std::string_view path) {
  static constexpr std::string_view kExtensions[] = {"js",  "mjs", "css", "map", "woff", "woff2", "ttf",  "otf", "eot",
                                                     "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "wasm"};
  const auto dot = path.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  const std::string_view ext = path.substr(dot + 1);
  if (std::find(std::begin(kExtensions), std::end(kExtensions), ext) == std::end(kExtensions)) return false;
  std::size_t hex = 0;
  std::size_t i = dot;
  while (i > 0 && std::isxdigit(static_cast<unsigned char>(path[i - 1]))) {
    --i;
    ++hex;
  }
  return hex >= 8 && i > 0 && (path[i - 1] == '.' || path[i - 1] == '-');
}

CacheControl::CacheControl(const config::CacheControlSpec& spec) {
  auto add = [&](const config::CacheRuleSpec& r, bool hashed) {
    Rule rule{r, std::nullopt, hashed};
    if (r.path_regex && !hashed) rule.path_re.emplace(*r.path_regex, std::regex::ECMAScript | std::regex::optimize);
    rules_.push_back(std::move(rule));
  };
  for (const auto& r : spec.rules) add(r, false);
  if (spec.preset == "spa") {
    const auto preset = spa_rules();
    for (std::size_t i = 0; i < preset.size(); ++i) add(preset[i], i == 1);  // [1]: the hashed assets
  }
}

bool CacheControl::matches(const Rule& r, const ResponseContext& ctx) const {
  const auto& s = r.spec;
  if (!s.statuses.empty() && std::find(s.statuses.begin(), s.statuses.end(), ctx.status) == s.statuses.end()) return false;
  if (s.path_prefix && !ctx.path.starts_with(*s.path_prefix)) return false;
  if (!s.extensions.empty()) {
    const auto slash = ctx.path.rfind('/');
    const auto dot = ctx.path.rfind('.');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return false;
    const std::string_view ext = ctx.path.substr(dot + 1);
    auto same = [&](const std::string& want) {  // `want` is lower-case already (config)
      return want.size() == ext.size() &&
             std::equal(want.begin(), want.end(), ext.begin(), [](char w, char e) {
               return w == static_cast<char>(std::tolower(static_cast<unsigned char>(e)));
             });
    };
    if (std::none_of(s.extensions.begin(), s.extensions.end(), same)) return false;
  }
  if (!s.content_types.empty() &&
      std::none_of(s.content_types.begin(), s.content_types.end(),
                   [&](const std::string& t) { return !ctx.content_type.empty() && ctx.content_type.starts_with(t); }))
    return false;
  if (r.hashed_asset && !hashed_asset(ctx.path)) return false;
  if (r.path_re && !std::regex_search(ctx.path.begin(), ctx.path.end(), *r.path_re)) return false;
  return true;
}

void CacheControl::on_response(const ResponseContext& ctx, http::HeaderEdits& edits) const {
  using Kind = http::HeaderEdit::Kind;
  if (ctx.status == 304) return;  // a conditional request's answer passes through untouched
  for (const Rule& r : rules_) {
    if (!matches(r, ctx)) continue;
    const auto& s = r.spec;
    edits.push({s.cache_control.mode == config::HeaderValueSpec::Mode::set ? Kind::set : Kind::set_default,
                "cache-control", s.cache_control.value});
    for (const std::string& v : s.vary) edits.push({Kind::vary, v, {}});
    if (s.strip_set_cookie) edits.push({Kind::remove, "set-cookie", {}});
    return;
  }
}

}  // namespace rampart::policy
