// compression: Accept-Encoding negotiation, every rule of decide(), weak ETags, and the chain
// keeping the policy apart.
#include "policy/compression.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <stdexcept>

using namespace rampart;
using http::Coding;
using policy::Compression;

namespace {

constexpr std::array<Coding, 2> kBrGzip{Coding::br, Coding::gzip};
constexpr std::array<Coding, 2> kGzipBr{Coding::gzip, Coding::br};
constexpr std::array<Coding, 1> kGzipOnly{Coding::gzip};

std::string_view name(Coding c) { return http::coding_name(c); }

// A response that passes every rule; each test changes one thing.
Compression::Input eligible() {
  Compression::Input in;
  in.status = 200;
  in.media_type = "text/html";
  in.content_length = 5000;
  in.accept_encoding = "gzip, deflate, br";
  return in;
}

}  // namespace

TEST_CASE("compression: negotiate follows the q-values of Accept-Encoding") {
  struct Case {
    const char* accept;
    Coding want;
  };
  const Case cases[] = {
      {"", Coding::identity},
      {"gzip", Coding::gzip},
      {"br", Coding::br},
      {"gzip, br", Coding::br},  // a tie goes to the server's order
      {"br, gzip", Coding::br},
      {"gzip, deflate, br, zstd", Coding::br},
      {"GZIP", Coding::gzip},
      {"Br", Coding::br},
      {"x-gzip", Coding::gzip},
      {"deflate", Coding::identity},
      {"gzip;q=0.5, br;q=0.9", Coding::br},
      {"gzip;q=0.9, br;q=0.5", Coding::gzip},
      {"br;q=1.0, gzip;q=1", Coding::br},
      {"br;q=0.001", Coding::br},
      {"br;q=0, gzip", Coding::gzip},
      {"br;q=0.000, gzip;q=0", Coding::identity},
      {"br;q=0., gzip;q=1.", Coding::gzip},
      {"*", Coding::br},
      {"*;q=0.5, gzip", Coding::gzip},  // gzip 1 beats br at 0.5 through "*"
      {"*, br;q=0", Coding::gzip},
      {"*;q=0", Coding::identity},
      {"identity", Coding::identity},
      {"gzip;q=0.5, identity", Coding::identity},  // identity is preferred
      {"gzip, identity;q=0.5", Coding::gzip},
      {"gzip, identity", Coding::gzip},            // a tie with identity goes to compression
      {"identity;q=0, br;q=0.1", Coding::br},
      {"gzip;q=0, gzip;q=0.8", Coding::gzip},      // listed twice: the higher weight
      {"gzip ; q=0.5 , br;q=0.4", Coding::gzip},   // optional whitespace
      {"gzip;Q=0.5, br;q=0.4", Coding::gzip},      // the parameter name is case-insensitive
      {"\tgzip\t,\tbr;q=0.2", Coding::gzip},
      // Malformed weights drop their member (and only it).
      {"gzip;q=1.5", Coding::identity},
      {"gzip;q=0.5000", Coding::identity},
      {"gzip;q=.5", Coding::identity},
      {"gzip;q=", Coding::identity},
      {"gzip;q = 0.5", Coding::identity},
      {"gzip;q=abc, br;q=0.1", Coding::br},
      {"br;q=0.5;q=0.6, gzip;q=0.2", Coding::gzip},
      {"gzip;level=9", Coding::identity},
      {"g zip, br", Coding::br},
      {";q=0.5, gzip", Coding::gzip},
      {"junk!!, ,,, gzip", Coding::gzip},
      {",,,", Coding::identity},
      {"\"gzip\", br;q=0.3", Coding::br},
  };
  for (const Case& c : cases) {
    INFO("Accept-Encoding: " << c.accept);
    CHECK(name(policy::negotiate(c.accept, kBrGzip)) == name(c.want));
  }
}

TEST_CASE("compression: negotiate offers only the configured codings, in their order") {
  CHECK(policy::negotiate("gzip, br", kGzipBr) == Coding::gzip);
  CHECK(policy::negotiate("*", kGzipBr) == Coding::gzip);
  CHECK(policy::negotiate("gzip;q=0.5, br", kGzipBr) == Coding::br);
  CHECK(policy::negotiate("br", kGzipOnly) == Coding::identity);
  CHECK(policy::negotiate("br, gzip;q=0.1", kGzipOnly) == Coding::gzip);
  // identity reached through "*" outweighs gzip.
  CHECK(policy::negotiate("gzip;q=0.5, *;q=0.9", kGzipOnly) == Coding::identity);
  CHECK(policy::negotiate("gzip", std::span<const Coding>{}) == Coding::identity);
}

TEST_CASE("compression: an eligible response is compressed with the configured level") {
  config::CompressionSpec spec;
  spec.gzip_level = 3;
  spec.brotli_level = 7;
  const Compression c(spec);
  CHECK(c.kind() == "compression");
  auto in = eligible();
  auto d = c.decide(in);
  CHECK(d.coding == Coding::br);
  CHECK(d.level == 7);
  CHECK(d.vary);
  in.accept_encoding = "gzip";
  d = c.decide(in);
  CHECK(d.coding == Coding::gzip);
  CHECK(d.level == 3);
  CHECK(d.vary);
}

TEST_CASE("compression: Vary is asked for even when the client accepts nothing") {
  const Compression c(config::CompressionSpec{});
  auto in = eligible();
  for (const char* accept : {"", "identity", "deflate", "br;q=0, gzip;q=0"}) {
    INFO("Accept-Encoding: " << accept);
    in.accept_encoding = accept;
    const auto d = c.decide(in);
    CHECK(d.coding == Coding::identity);
    CHECK(d.level == 0);
    CHECK(d.vary);
  }
}

TEST_CASE("compression: statuses") {
  const Compression c(config::CompressionSpec{});
  auto in = eligible();
  for (int status : {200, 201, 202, 203, 400, 403, 404, 410, 429, 500, 503}) {
    INFO("status " << status);
    in.status = status;
    CHECK(c.decide(in).coding == Coding::br);
  }
  for (int status : {100, 101, 103, 204, 205, 206, 300, 301, 302, 304, 307, 308, 399, 600}) {
    INFO("status " << status);
    in.status = status;
    const auto d = c.decide(in);
    CHECK(d.coding == Coding::identity);
    CHECK_FALSE(d.vary);
  }
}

TEST_CASE("compression: each rule that keeps a body as it is") {
  const Compression c(config::CompressionSpec{});
  auto check_skipped = [&](const Compression::Input& in) {
    const auto d = c.decide(in);
    CHECK(d.coding == Coding::identity);
    CHECK_FALSE(d.vary);  // the decision does not depend on Accept-Encoding
  };
  SECTION("a media type that is not listed, or none") {
    auto in = eligible();
    in.media_type = "image/png";
    check_skipped(in);
    in.media_type = "";
    check_skipped(in);
    in.media_type = "text/html+x";  // exact match only
    check_skipped(in);
  }
  SECTION("already encoded") {
    auto in = eligible();
    in.content_encoding = "gzip";
    check_skipped(in);
    in.content_encoding = "br";
    check_skipped(in);
    in.content_encoding = " identity ";  // identity is no encoding
    CHECK(c.decide(in).coding == Coding::br);
    in.content_encoding = "Identity";
    CHECK(c.decide(in).coding == Coding::br);
  }
  SECTION("a range") {
    auto in = eligible();
    in.has_content_range = true;
    check_skipped(in);
  }
  SECTION("Cache-Control no-transform") {
    auto in = eligible();
    in.cache_control = "no-transform";
    check_skipped(in);
    in.cache_control = "public, max-age=60, No-Transform";
    check_skipped(in);
    in.cache_control = "private, no-transformer, max-age=\"5\"";
    CHECK(c.decide(in).coding == Coding::br);
    in.cache_control = "public,no-transform";
    check_skipped(in);
  }
  SECTION("short bodies of known length") {
    auto in = eligible();
    in.content_length = 1023;
    check_skipped(in);
    in.content_length = 0;
    check_skipped(in);
    in.content_length = 1024;  // min_length itself is compressed
    CHECK(c.decide(in).coding == Coding::br);
    in.content_length = std::nullopt;  // unknown (chunked): compressed
    CHECK(c.decide(in).coding == Coding::br);
  }
}

TEST_CASE("compression: HEAD is decided like GET") {
  const Compression c(config::CompressionSpec{});
  auto get = eligible();
  auto head = eligible();
  head.head_request = true;
  const auto a = c.decide(get), b = c.decide(head);
  CHECK(a.coding == b.coding);
  CHECK(a.level == b.level);
  CHECK(a.vary == b.vary);
  get.content_length = head.content_length = 10;
  CHECK(c.decide(head).coding == c.decide(get).coding);
}

TEST_CASE("compression: media types match exactly, or by type with type/*") {
  config::CompressionSpec spec;
  spec.content_types = {"text/*", "application/json"};
  spec.min_length = 0;
  const Compression c(spec);
  auto in = eligible();
  for (const char* type : {"text/html", "text/x-anything", "application/json"}) {
    INFO(type);
    in.media_type = type;
    CHECK(c.decide(in).coding == Coding::br);
  }
  for (const char* type : {"text/", "text", "application/json-seq", "application/problem+json", "image/svg+xml"}) {
    INFO(type);
    in.media_type = type;
    CHECK(c.decide(in).coding == Coding::identity);
  }
  in.media_type = "text/css";
  in.content_length = 1;  // min_length 0: any non-empty body
  CHECK(c.decide(in).coding == Coding::br);
  in.content_length = 0;
  CHECK(c.decide(in).coding == Coding::identity);
}

TEST_CASE("compression: the spec's algorithm order is the server preference") {
  config::CompressionSpec spec;
  spec.algorithms = {"gzip", "br"};
  const Compression c(spec);
  REQUIRE(c.offered().size() == 2);
  CHECK(c.offered()[0] == Coding::gzip);
  auto in = eligible();
  CHECK(c.decide(in).coding == Coding::gzip);
  in.accept_encoding = "br";
  CHECK(c.decide(in).coding == Coding::br);

  spec.algorithms = {"gzip"};
  const Compression gzip_only(spec);
  CHECK(gzip_only.decide(in).coding == Coding::identity);
  CHECK(gzip_only.decide(in).vary);
}

TEST_CASE("compression: a spec the loader would refuse is refused") {
  config::CompressionSpec spec;
  spec.algorithms = {"zstd"};
  CHECK_THROWS_AS(Compression(spec), std::invalid_argument);
  spec = {};
  spec.gzip_level = 0;
  CHECK_THROWS_AS(Compression(spec), std::invalid_argument);
  spec = {};
  spec.brotli_level = 12;
  CHECK_THROWS_AS(Compression(spec), std::invalid_argument);
}

TEST_CASE("compression: weak ETags") {
  CHECK(Compression::weak_etag("\"abc\"") == "W/\"abc\"");
  CHECK(Compression::weak_etag("W/\"abc\"") == "W/\"abc\"");
  CHECK(Compression::weak_etag("\"\"") == "W/\"\"");
  CHECK(Compression::weak_etag(" \"v1-2\" ") == "W/\"v1-2\"");
  CHECK(Compression::weak_etag("abc").empty());
  CHECK(Compression::weak_etag("W/abc").empty());
  CHECK(Compression::weak_etag("\"a\"b\"").empty());
  CHECK(Compression::weak_etag("\"abc").empty());
  CHECK(Compression::weak_etag("").empty());
}

TEST_CASE("compression: the chain keeps the policy apart from the header policies") {
  config::PolicySpec spec;
  spec.name = "compress";
  spec.compression = config::CompressionSpec{};
  auto p = policy::build(spec);
  REQUIRE(p != nullptr);
  CHECK(p->kind() == "compression");
  policy::Chain chain;
  CHECK(chain.compression() == nullptr);
  chain.add(p);
  CHECK_FALSE(chain.empty());
  REQUIRE(chain.compression() != nullptr);
  CHECK(chain.compression() == p.get());
  CHECK(chain.kinds() == std::vector<std::string>{"compression"});
  http::HeaderEdits edits;
  chain.on_response({200, "text/html", "/", false}, edits);
  CHECK(edits.empty());  // no header edits: the session applies decide()
}
