// The `compression:` policy kind: every key, the `true` shorthand, the defaults, and the errors
// (with their file:line:col).
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace rampart::config;
using rampart::config::test::errors_of;
using rampart::config::test::must_load;

namespace {

const std::string head = "listeners: [{name: l, address: \"127.0.0.1:0\"}]\n"
                         "servers: [{name: s, hosts: [\"*\"], policies: [c], routes: [{respond: {}}]}]\n"
                         "policies:\n"
                         "  - name: c\n";

// The compression spec of a config whose only policy is `compression: <body>` (body from column 4).
CompressionSpec load_body(const std::string& body) {
  const ConfigSpec spec = must_load(head + "    compression:" + body);
  REQUIRE(spec.policies.size() == 1);
  REQUIRE(spec.policies[0].compression.has_value());
  CHECK(spec.policies[0].kind() == "compression");
  return *spec.policies[0].compression;
}

std::vector<std::string> body_errors(const std::string& body) { return errors_of(head + "    compression:" + body); }

}  // namespace

TEST_CASE("compression config: every key is read") {
  const CompressionSpec c = load_body(R"(
      algorithms: [gzip, BR]
      gzip_level: 9
      brotli_level: 0
      min_length: 2k
      content_types: [Text/HTML, "text/*", application/json, image/svg+xml]
)");
  CHECK(c.algorithms == std::vector<std::string>{"gzip", "br"});
  CHECK(c.gzip_level == 9);
  CHECK(c.brotli_level == 0);
  CHECK(c.min_length == 2048);
  CHECK(c.content_types == std::vector<std::string>{"text/html", "text/*", "application/json", "image/svg+xml"});
}

TEST_CASE("compression config: true and an empty map take every default") {
  CHECK(load_body(" true\n") == CompressionSpec{});
  CHECK(load_body(" {}\n") == CompressionSpec{});
  const CompressionSpec d{};
  CHECK(d.algorithms == std::vector<std::string>{"br", "gzip"});
  CHECK(d.gzip_level == 6);
  CHECK(d.brotli_level == 4);
  CHECK(d.min_length == 1024);
  // Single values stand for one-item lists; a level at the edge of its range is taken.
  const CompressionSpec one = load_body(" {algorithms: gzip, content_types: application/json, gzip_level: 1, brotli_level: 11, min_length: 0}\n");
  CHECK(one.algorithms == std::vector<std::string>{"gzip"});
  CHECK(one.content_types == std::vector<std::string>{"application/json"});
  CHECK(one.gzip_level == 1);
  CHECK(one.brotli_level == 11);
  CHECK(one.min_length == 0);
}

TEST_CASE("compression config: the dump loads back equal") {
  const ConfigSpec a = must_load(head + "    compression: {algorithms: [gzip], gzip_level: 4, min_length: 10k, "
                                        "content_types: [text/*, application/json]}\n");
  const ConfigSpec b = must_load(dump(a));
  REQUIRE(b.policies.size() == 1);
  CHECK(b.policies[0].compression == a.policies[0].compression);
}

TEST_CASE("compression config: errors say where and what") {
  CHECK(body_errors(" {algorithms: [br, gzp]}\n") ==
        std::vector<std::string>{"t.yaml:5:36: error: unknown algorithm 'gzp' (did you mean 'gzip'?): expected br or gzip "
                                 "[policies[0].compression.algorithms[1]]"});
  CHECK(body_errors(" {algorithms: [zstd]}\n") ==
        std::vector<std::string>{"t.yaml:5:32: error: unknown algorithm 'zstd': expected br or gzip "
                                 "[policies[0].compression.algorithms[0]]"});
  CHECK(body_errors(" {algorithms: [gzip, br, gzip]}\n") ==
        std::vector<std::string>{"t.yaml:5:42: error: algorithm 'gzip' is listed twice [policies[0].compression.algorithms[2]]"});
  CHECK(body_errors(" {algorithms: []}\n") ==
        std::vector<std::string>{"t.yaml:5:31: error: algorithms must list at least one of br, gzip "
                                 "[policies[0].compression.algorithms]"});
  CHECK(body_errors("\n      gzip_level: 10\n      brotli_level: 12\n") ==
        std::vector<std::string>{"t.yaml:6:19: error: must be between 1 and 9 [policies[0].compression.gzip_level]",
                                 "t.yaml:7:21: error: must be between 0 and 11 [policies[0].compression.brotli_level]"});
  CHECK(body_errors(" {gzip_level: 0}\n") ==
        std::vector<std::string>{"t.yaml:5:31: error: must be between 1 and 9 [policies[0].compression.gzip_level]"});
  CHECK(body_errors(" {gzip_level: fast}\n") ==
        std::vector<std::string>{"t.yaml:5:31: error: expected an integer [policies[0].compression.gzip_level]"});
  CHECK(body_errors(" {min_length: lots}\n") ==
        std::vector<std::string>{"t.yaml:5:31: error: expected a size like 16k or 1m [policies[0].compression.min_length]"});
  CHECK(body_errors(" {gzip_levle: 5}\n") ==
        std::vector<std::string>{"t.yaml:5:19: error: unknown key 'gzip_levle' (did you mean 'gzip_level'?) "
                                 "[policies[0].compression.gzip_levle]"});
  CHECK(body_errors(" false\n") ==
        std::vector<std::string>{"t.yaml:5:18: error: compression: false turns nothing on: leave the policy out, or list it "
                                 "in a route's without [policies[0].compression]"});
  CHECK(body_errors(" yes please\n") ==
        std::vector<std::string>{"t.yaml:5:18: error: expected true, false or a mapping [policies[0].compression]"});
}

TEST_CASE("compression config: media types are type/subtype or type/*") {
  const std::string message =
      " (expected type/subtype like text/html, or type/* like text/*, without parameters) [policies[0].compression.content_types[";
  CHECK(body_errors("\n      content_types:\n        - text\n        - \"text/html; charset=utf-8\"\n"
                    "        - \"*/*\"\n        - text/h*ml\n        - application/json\n        - /json\n") ==
        std::vector<std::string>{"t.yaml:7:11: error: bad media type 'text'" + message + "0]]",
                                 "t.yaml:8:11: error: bad media type 'text/html; charset=utf-8'" + message + "1]]",
                                 "t.yaml:9:11: error: bad media type '*/*'" + message + "2]]",
                                 "t.yaml:10:11: error: bad media type 'text/h*ml'" + message + "3]]",
                                 "t.yaml:12:11: error: bad media type '/json'" + message + "5]]"});
  CHECK(body_errors(" {content_types: [text/html, TEXT/HTML]}\n") ==
        std::vector<std::string>{"t.yaml:5:46: error: media type 'text/html' is listed twice "
                                 "[policies[0].compression.content_types[1]]"});
  CHECK(body_errors(" {content_types: []}\n") ==
        std::vector<std::string>{"t.yaml:5:34: error: content_types must list at least one media type "
                                 "[policies[0].compression.content_types]"});
}
