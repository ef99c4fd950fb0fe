// The routing table and the wire form of replies, without sockets.
#include "admin/routes.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace rampart;
using namespace rampart::admin;
using http::Method;

namespace {

Handlers fixed(bool ready) {
  Handlers h;
  h.metrics = [] { return std::string("m 1\n"); };
  h.ready = [ready] { return ready; };
  h.config_yaml = [] { return std::string("a: 1\n"); };
  h.upstreams_json = [] { return std::string("{}"); };
  h.reload = [](std::string& m) {
    m = "reload ok generation=2\n";
    return true;
  };
  return h;
}

}  // namespace

TEST_CASE("each endpoint answers with its handler's body and content type", "[admin][routes]") {
  const Handlers h = fixed(true);
  auto r = route(Method::get, "/metrics", h);
  CHECK(r.status == 200);
  CHECK(r.body == "m 1\n");
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  r = route(Method::get, "/config", h);
  CHECK((r.status == 200 && r.body == "a: 1\n" && r.content_type == "application/yaml"));
  r = route(Method::get, "/upstreams", h);
  CHECK((r.status == 200 && r.body == "{}" && r.content_type == "application/json"));
  r = route(Method::head, "/livez", h);
  CHECK((r.status == 200 && r.body == "alive\n" && r.content_type == "text/plain; charset=utf-8"));
  r = route(Method::post, "/-/reload", h);
  CHECK((r.status == 200 && r.body == "reload ok generation=2\n"));
}

TEST_CASE("readiness: /readyz and /healthz follow ready(), /livez does not", "[admin][routes]") {
  const Handlers up = fixed(true), down = fixed(false);
  CHECK(route(Method::get, "/readyz", up).status == 200);
  CHECK(route(Method::get, "/healthz", up).body == "ready\n");
  CHECK(route(Method::get, "/readyz", down).status == 503);
  CHECK(route(Method::get, "/healthz", down).body == "not ready\n");
  CHECK(route(Method::get, "/livez", down).status == 200);
}

TEST_CASE("wrong methods get 405 with Allow, unknown paths 404 whatever the method", "[admin][routes]") {
  const Handlers h = fixed(true);
  for (Method m : {Method::post, Method::put, Method::del, Method::options, Method::patch}) {
    const auto r = route(m, "/metrics", h);
    CHECK(r.status == 405);
    CHECK(r.allow == "GET, HEAD");
  }
  for (Method m : {Method::get, Method::head, Method::put}) {
    const auto r = route(m, "/-/reload", h);
    CHECK(r.status == 405);
    CHECK(r.allow == "POST");
  }
  CHECK(route(Method::get, "/", h).status == 404);
  CHECK(route(Method::post, "/metricsx", h).status == 404);
  CHECK(route(Method::get, "/metrics/", h).status == 404);
  CHECK(route(Method::get, "/metrics", h).allow.empty());
}

TEST_CASE("empty handlers make their endpoint 404, a throwing handler gives 500", "[admin][routes]") {
  Handlers none;
  CHECK(route(Method::get, "/metrics", none).status == 404);
  CHECK(route(Method::get, "/readyz", none).status == 404);
  CHECK(route(Method::post, "/-/reload", none).status == 404);
  CHECK(route(Method::get, "/livez", none).status == 200);
  Handlers bad;
  bad.metrics = []() -> std::string { throw std::runtime_error("boom"); };
  const auto r = route(Method::get, "/metrics", bad);
  CHECK(r.status == 500);
  CHECK(r.body == "handler failed: boom\n");
}

TEST_CASE("write_reply frames with Content-Length, HEAD keeps it and drops the body", "[admin][routes]") {
  Reply r = text_reply(405, "method not allowed");
  r.allow = "POST";
  std::string out;
  write_reply(r, false, true, out);
  CHECK(out ==
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n"
        "Allow: POST\r\nCache-Control: no-store\r\n\r\nmethod not allowed\n");
  out.clear();
  write_reply(text_reply(200, "alive"), true, false, out);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
}
