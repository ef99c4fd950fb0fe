// Top-level policies and their attachment to servers and routes: what load() reads, the merge
// checks, and a dump that loads back equal.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using rampart::config::test::errors_of;
using rampart::config::test::must_load;

namespace {

const std::string policies = R"(listeners: [{name: l, address: "127.0.0.1:0"}]
upstreams: [{name: u, endpoints: ["127.0.0.1:1"]}]
policies:
  - name: sec
    security_headers:
      hsts: {max_age: 365d, include_subdomains: true, preload: true}
      content_security_policy: "default-src 'self'; img-src *"
      referrer_policy: {value: no-referrer, mode: default}
      remove: [Server, x-powered-by]
  - name: spa
    cache_control: {preset: spa}
  - name: api
    cache_control:
      rules:
        - {path_prefix: /api/, extensions: [.JSON], content_types: [application/json], statuses: [], value: no-store, vary: [Authorization], strip_set_cookie: true}
        - {path: "\\.[0-9a-f]{8}\\.js$", value: {value: "max-age=60", mode: default}}
)";

}  // namespace

TEST_CASE("policies: every key is read, and the dump loads back equal", "[config][policy]") {
  const ConfigSpec a = must_load(policies + "servers: [{name: s, hosts: [\"*\"], policies: [sec, spa], routes: "
                                            "[{upstream: u, policies: [api], without: [sec]}]}]\n");
  REQUIRE(a.policies.size() == 3);
  const auto& sec = *a.policies[0].security_headers;
  CHECK(sec.hsts == std::optional<std::string>("max-age=31536000; includeSubDomains; preload"));
  REQUIRE(sec.headers.size() == 2);
  CHECK(sec.headers[0].first == "content-security-policy");
  CHECK(sec.headers[1].second.mode == HeaderValueSpec::Mode::set_default);
  CHECK(sec.remove == std::vector<std::string>{"server", "x-powered-by"});
  CHECK(a.policies[1].cache_control->preset == std::optional<std::string>("spa"));
  const auto& rule = a.policies[2].cache_control->rules[0];
  CHECK(rule.extensions == std::vector<std::string>{"json"});
  CHECK(rule.statuses.empty());
  CHECK(rule.strip_set_cookie);
  CHECK(a.servers[0].policies == std::vector<std::string>{"sec", "spa"});
  CHECK(a.servers[0].routes[0].without == std::vector<std::string>{"sec"});

  const ConfigSpec b = must_load(dump(a));
  REQUIRE(b.policies.size() == a.policies.size());
  for (std::size_t i = 0; i < a.policies.size(); ++i) {
    CHECK(a.policies[i].name == b.policies[i].name);
    CHECK(a.policies[i].security_headers == b.policies[i].security_headers);
    CHECK(a.policies[i].cache_control == b.policies[i].cache_control);
  }
  CHECK(b.servers[0].policies == a.servers[0].policies);
  CHECK(b.servers[0].routes[0].policies == a.servers[0].routes[0].policies);
  CHECK(b.servers[0].routes[0].without == a.servers[0].routes[0].without);
}

TEST_CASE("policies: CORS with any origin and credentials is a config error", "[config][policy][errors]") {
  CHECK(errors_of("listeners: [{name: l, address: \"127.0.0.1:0\"}]\n"
                  "policies: [{name: c, cors: {allow_origins: \"*\", allow_credentials: true}}]\n"
                  "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n") ==
        std::vector<std::string>{"t.yaml:2:28: error: allow_origins \"*\" cannot go with allow_credentials (browsers "
                                 "refuse it): list the origins [policies[0].cors]"});
  CHECK(errors_of("listeners: [{name: l, address: \"127.0.0.1:0\"}]\n"
                  "policies: [{name: c, cors: {allow_origins: [\"https://a.test/\", \"ftp://b.test\"]}}]\n"
                  "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n")
            .size() == 2);
}

TEST_CASE("policies: references and merge rules are checked", "[config][policy][errors]") {
  CHECK(errors_of(policies + "servers: [{name: s, hosts: [\"*\"], policies: [secc], routes: [{upstream: u}]}]\n") ==
        std::vector<std::string>{"t.yaml:17:46: error: unknown policy 'secc' (did you mean 'sec'?) [servers[0].policies[0]]"});
  CHECK(errors_of(policies + "servers: [{name: s, hosts: [\"*\"], policies: [spa, api], routes: [{upstream: u}]}]\n") ==
        std::vector<std::string>{"t.yaml:17:11: error: policies 'spa' and 'api' are both cache_control (one of each "
                                 "kind) [servers[0].policies]"});
  CHECK(errors_of(policies + "servers: [{name: s, hosts: [\"*\"], routes: [{upstream: u, without: [sec]}]}]\n") ==
        std::vector<std::string>{"t.yaml:17:44: error: without 'sec': server 's' has no such policy "
                                 "[servers[0].routes[0].without]"});
  CHECK(errors_of("listeners: [{name: l, address: \"127.0.0.1:0\"}]\npolicies: [{name: x}]\n"
                  "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n") ==
        std::vector<std::string>{
            "t.yaml:2:12: error: a policy needs exactly one kind: security_headers, cache_control, cors, access, rate_limit or compression [policies[0]]"});
  CHECK(errors_of("listeners: [{name: l, address: \"127.0.0.1:0\"}]\npolicies: [{name: x, cache_control: {}}]\n"
                  "servers: [{name: s, hosts: [\"*\"], routes: [{respond: {}}]}]\n") ==
        std::vector<std::string>{"t.yaml:2:37: error: cache_control needs rules or a preset [policies[0].cache_control]"});
}
