// cors: origin matching, preflights answered at the edge, the headers for allowed origins only.
#include "policy/cors.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace rampart;

namespace {

std::multimap<std::string, std::string> headers_of(const policy::Cors& cors, std::string_view origin, bool preflight) {
  http::HeaderEdits e;
  cors.on_response({204, "", "/api/x", true, origin, preflight}, e);
  std::multimap<std::string, std::string> out;
  for (std::size_t i = 0; i < e.count; ++i) out.emplace(std::string(e.items[i].name), std::string(e.items[i].value));
  return out;
}

config::CorsSpec listed() {
  config::CorsSpec s;
  s.origins = {"https://app.example.com", "https://*.example.org"};
  s.methods = {"GET", "POST", "DELETE"};
  s.headers = {"Content-Type", "Authorization"};
  s.expose_headers = {"X-Request-ID"};
  s.credentials = true;
  s.max_age = std::chrono::minutes(10);
  return s;
}

}  // namespace

TEST_CASE("cors: exact and wildcard origins") {
  policy::Cors cors(listed());
  CHECK(cors.allows("https://app.example.com"));
  CHECK(cors.allows("https://APP.example.com"));
  CHECK_FALSE(cors.allows("http://app.example.com"));         // scheme matters
  CHECK_FALSE(cors.allows("https://app.example.com:8443"));   // so does the port
  CHECK(cors.allows("https://a.example.org"));
  CHECK(cors.allows("https://a.b.example.org"));
  CHECK_FALSE(cors.allows("https://example.org"));            // a subdomain, not the apex
  CHECK_FALSE(cors.allows("https://evilexample.org"));
  CHECK_FALSE(cors.allows("https://a.example.org.evil.com"));
  CHECK_FALSE(cors.allows("null"));
  CHECK_FALSE(cors.allows(""));
}

TEST_CASE("cors: preflights are answered at the edge, headers only for allowed origins") {
  policy::Cors cors(listed());
  CHECK(cors.on_request({"OPTIONS", "/api/x", "https://app.example.com", "DELETE"}) == 204);
  CHECK(cors.on_request({"OPTIONS", "/api/x", "https://evil.test", "DELETE"}) == 204);  // answered, without CORS headers
  CHECK(cors.on_request({"OPTIONS", "/api/x", "", "DELETE"}) == 0);                     // not a CORS request
  CHECK(cors.on_request({"OPTIONS", "/api/x", "https://app.example.com", ""}) == 0);    // a plain OPTIONS goes upstream
  CHECK(cors.on_request({"GET", "/api/x", "https://app.example.com", ""}) == 0);

  auto pre = headers_of(cors, "https://app.example.com", true);
  CHECK(pre.find("access-control-allow-origin")->second == "https://app.example.com");
  CHECK(pre.find("access-control-allow-credentials")->second == "true");
  CHECK(pre.find("access-control-allow-methods")->second == "GET, POST, DELETE");
  CHECK(pre.find("access-control-allow-headers")->second == "Content-Type, Authorization");
  CHECK(pre.find("access-control-max-age")->second == "600");
  CHECK(pre.find("Origin") != pre.end());  // Vary: Origin

  auto actual = headers_of(cors, "https://a.example.org", false);
  CHECK(actual.find("access-control-expose-headers")->second == "X-Request-ID");
  CHECK(actual.count("access-control-allow-methods") == 0);

  auto denied = headers_of(cors, "https://evil.test", true);
  CHECK(denied.size() == 1);  // only Vary: Origin
  CHECK(denied.count("Origin") == 1);
}

TEST_CASE("cors: any origin without credentials answers *, and needs no Vary") {
  config::CorsSpec s;
  s.any_origin = true;
  policy::Cors cors(s);
  auto h = headers_of(cors, "https://whoever.test", false);
  CHECK(h.find("access-control-allow-origin")->second == "*");
  CHECK(h.count("Origin") == 0);
  CHECK(h.count("access-control-allow-credentials") == 0);
}
