// cache_control: rule matching, first match wins, the spa preset, 304 untouched.
#include "policy/cache_control.hpp"

#include <catch2/catch.hpp>

using namespace rampart;
using Kind = http::HeaderEdit::Kind;

namespace {

http::HeaderEdits run(const policy::CacheControl& cc, int status, std::string_view type, std::string_view path) {
  http::HeaderEdits e;
  cc.on_response({status, type, path, false}, e);
  return e;
}

std::string cache_value(const http::HeaderEdits& e) {
  for (std::size_t i = 0; i < e.count; ++i)
    if (e.items[i].name == "cache-control") return std::string(e.items[i].value);
  return "<none>";
}

}  // namespace

TEST_CASE("cache_control: the spa preset") {
  config::CacheControlSpec spec;
  spec.preset = "spa";
  policy::CacheControl cc(spec);
  CHECK(cache_value(run(cc, 200, "application/javascript", "/assets/app.3f9a1c2b.js")) == "public, max-age=31536000, immutable");
  CHECK(cache_value(run(cc, 200, "font/woff2", "/f/inter-0123456789abcdef.woff2")) == "public, max-age=31536000, immutable");
  CHECK(cache_value(run(cc, 200, "application/javascript", "/assets/app.js")) == "<none>");
  CHECK(cache_value(run(cc, 200, "application/javascript", "/assets/app.3f9a1c2.js")) == "<none>");  // 7 digits
  CHECK(cache_value(run(cc, 200, "text/plain", "/notes.3f9a1c2b.txt")) == "<none>");                 // not an asset type
  CHECK(cache_value(run(cc, 200, "text/html", "/")) == "no-cache");
  CHECK(cache_value(run(cc, 200, "text/html", "/assets/x.3f9a1c2b.js")) == "public, max-age=31536000, immutable");
  CHECK(cache_value(run(cc, 500, "application/json", "/api/x")) == "no-store");
  CHECK(cache_value(run(cc, 404, "text/html", "/missing")) == "<none>");  // not a cacheable status
  CHECK(run(cc, 304, "text/html", "/").empty());
  // The asset rule strips Set-Cookie.
  auto e = run(cc, 200, "text/css", "/a/site-deadbeef12.css");
  bool strips = false;
  for (std::size_t i = 0; i < e.count; ++i) strips = strips || (e.items[i].kind == Kind::remove && e.items[i].name == "set-cookie");
  CHECK(strips);
}

TEST_CASE("cache_control: explicit rules first, every condition must hold, default mode") {
  config::CacheControlSpec spec;
  config::CacheRuleSpec images;
  images.extensions = {"png", "jpg"};
  images.content_types = {"image/"};
  images.cache_control = {"public, max-age=86400", config::HeaderValueSpec::Mode::set_default};
  images.vary = {"Accept"};
  spec.rules.push_back(images);
  spec.preset = "spa";
  policy::CacheControl cc(spec);
  auto e = run(cc, 200, "image/png", "/img/logo.PNG");
  // Case-insensitive extension; the first rule wins (not the preset's).
  REQUIRE(e.count == 2);
  CHECK(e.items[0].kind == Kind::set_default);
  CHECK(e.items[0].value == "public, max-age=86400");
  CHECK(e.items[1].kind == Kind::vary);
  CHECK(e.items[1].name == "Accept");
  CHECK(cache_value(run(cc, 200, "text/plain", "/img/logo.png")) == "<none>");  // wrong media type
}
