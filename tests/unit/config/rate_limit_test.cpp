// The `rate_limit:` policy kind: every key, the defaults, and each error with its position.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using rampart::config::test::errors_of;
using rampart::config::test::must_load;

namespace {

// A config whose only policy is a rate limit with the given body (lines indented for line 4 on).
std::string with_limit(const std::string& body) {
  return "listeners: [{name: l, address: \"127.0.0.1:0\"}]\n"
         "policies:\n"
         "  - name: api\n"
         "    rate_limit:\n" +
         body +
         "servers: [{name: s, hosts: [\"*\"], policies: [api], routes: [{respond: {}}]}]\n";
}

}  // namespace

TEST_CASE("rate limit config: every key is read") {
  const ConfigSpec c = must_load(with_limit("      rate: 6000/m\n"
                                            "      burst: 200\n"
                                            "      key: [client_ip, \"header:X-Api-Key\", \"cookie:Session\", route]\n"
                                            "      status: 503\n"
                                            "      dry_run: true\n"
                                            "      headers: false\n"
                                            "      max_keys: 5000\n"));
  REQUIRE(c.policies.size() == 1);
  REQUIRE(c.policies[0].rate_limit);
  CHECK(c.policies[0].kind() == "rate_limit");
  const RateLimitSpec& l = *c.policies[0].rate_limit;
  CHECK(l.count == 6000);
  CHECK(l.per == std::chrono::minutes(1));
  CHECK(l.burst == 200);
  using Kind = RateKeyPartSpec::Kind;
  CHECK(l.key == std::vector<RateKeyPartSpec>{{Kind::client_ip, ""}, {Kind::header, "x-api-key"},
                                              {Kind::cookie, "Session"}, {Kind::route, ""}});
  CHECK(l.status == 503);
  CHECK(l.dry_run);
  CHECK_FALSE(l.headers);
  CHECK(l.max_keys == 5000);

  // The dump loads back equal.
  const ConfigSpec again = must_load(dump(c));
  REQUIRE(again.policies.size() == 1);
  CHECK(again.policies[0].rate_limit == c.policies[0].rate_limit);
}

TEST_CASE("rate limit config: defaults, units and a single key part") {
  const RateLimitSpec d = *must_load(with_limit("      rate: 10/h\n")).policies[0].rate_limit;
  CHECK(d.count == 10);
  CHECK(d.per == std::chrono::hours(1));
  CHECK(d.burst == 0);
  CHECK(d.key == std::vector<RateKeyPartSpec>{RateKeyPartSpec{}});  // the client IP
  CHECK(d.status == 429);
  CHECK_FALSE(d.dry_run);
  CHECK(d.headers);
  CHECK(d.max_keys == 100000);

  const RateLimitSpec s = *must_load(with_limit("      rate: 1/s\n      key: \"header:authorization\"\n")).policies[0].rate_limit;
  CHECK(s.per == std::chrono::seconds(1));
  CHECK(s.key == std::vector<RateKeyPartSpec>{{RateKeyPartSpec::Kind::header, "authorization"}});
  CHECK(must_load(with_limit("      rate: 1000000000/s\n      burst: 1000000000\n      max_keys: 10000000\n"))
            .policies[0]
            .rate_limit->count == 1000000000);
}

TEST_CASE("rate limit config: the rate is checked") {
  CHECK(errors_of(with_limit("      rate: 100\n")) ==
        std::vector<std::string>{"t.yaml:5:13: error: rate '100' needs a unit: 100/s, 6000/m or 10/h [policies[0].rate_limit.rate]"});
  CHECK(errors_of(with_limit("      rate: 0/s\n")) ==
        std::vector<std::string>{
            "t.yaml:5:13: error: rate '0/s' allows nothing: the count must be at least 1 [policies[0].rate_limit.rate]"});
  CHECK(errors_of(with_limit("      rate: 100/d\n")) ==
        std::vector<std::string>{"t.yaml:5:13: error: expected a rate like 100/s, 6000/m or 10/h (a count of requests per "
                                 "second, minute or hour) [policies[0].rate_limit.rate]"});
  CHECK(errors_of(with_limit("      rate: fast/s\n")) ==
        std::vector<std::string>{"t.yaml:5:13: error: expected a rate like 100/s, 6000/m or 10/h (a count of requests per "
                                 "second, minute or hour) [policies[0].rate_limit.rate]"});
  CHECK(errors_of(with_limit("      rate: 1000000001/s\n")) ==
        std::vector<std::string>{"t.yaml:5:13: error: rate count must be at most 1000000000 [policies[0].rate_limit.rate]"});
  CHECK(errors_of(with_limit("      burst: 5\n")) ==
        std::vector<std::string>{"t.yaml:5:7: error: missing required key 'rate' [policies[0].rate_limit.rate]"});
}

TEST_CASE("rate limit config: key parts are checked, with a suggestion") {
  CHECK(errors_of(with_limit("      rate: 1/s\n      key: [client-ip]\n")) ==
        std::vector<std::string>{"t.yaml:6:13: error: unknown key part 'client-ip': expected client_ip, route, "
                                 "header:<name> or cookie:<name> (did you mean 'client_ip'?) [policies[0].rate_limit.key[0]]"});
  CHECK(errors_of(with_limit("      rate: 1/s\n      key: [route, \"headers:x-api-key\"]\n")) ==
        std::vector<std::string>{"t.yaml:6:20: error: unknown key part 'headers:x-api-key': expected client_ip, route, "
                                 "header:<name> or cookie:<name> (did you mean 'header:x-api-key'?) "
                                 "[policies[0].rate_limit.key[1]]"});
  CHECK(errors_of(with_limit("      rate: 1/s\n      key: user\n")) ==
        std::vector<std::string>{"t.yaml:6:12: error: unknown key part 'user': expected client_ip, route, "
                                 "header:<name> or cookie:<name> [policies[0].rate_limit.key]"});
  CHECK(errors_of(with_limit("      rate: 1/s\n      key: [\"header:x api\", \"cookie:\"]\n")) ==
        std::vector<std::string>{"t.yaml:6:13: error: bad header name 'x api' [policies[0].rate_limit.key[0]]",
                                 "t.yaml:6:29: error: bad cookie name '' [policies[0].rate_limit.key[1]]"});
  CHECK(errors_of(with_limit("      rate: 1/s\n      key: []\n")) ==
        std::vector<std::string>{"t.yaml:6:12: error: a key needs at least one part [policies[0].rate_limit.key]"});
}

TEST_CASE("rate limit config: every other error at once, with its position") {
  CHECK(errors_of(with_limit("      rate: 100\n"
                             "      burst: -1\n"
                             "      status: 302\n"
                             "      dry_run: maybe\n"
                             "      headers: 1\n"
                             "      max_keys: 0\n"
                             "      keys: client_ip\n")) ==
        std::vector<std::string>{
            "t.yaml:5:13: error: rate '100' needs a unit: 100/s, 6000/m or 10/h [policies[0].rate_limit.rate]",
            "t.yaml:6:14: error: expected an integer [policies[0].rate_limit.burst]",
            "t.yaml:7:15: error: must be between 400 and 599 [policies[0].rate_limit.status]",
            "t.yaml:8:16: error: expected true or false [policies[0].rate_limit.dry_run]",
            "t.yaml:9:16: error: expected true or false [policies[0].rate_limit.headers]",
            "t.yaml:10:17: error: must be between 1 and 10000000 [policies[0].rate_limit.max_keys]",
            "t.yaml:11:7: error: unknown key 'keys' (did you mean 'key'?) [policies[0].rate_limit.keys]",
        });
  CHECK(errors_of(with_limit("      [100/s]\n")) ==
        std::vector<std::string>{"t.yaml:5:7: error: expected a mapping [policies[0].rate_limit]"});
}
