// security_headers: what it asks of a response, HSTS only on TLS.
#include "policy/security_headers.hpp"

#include <catch2/catch.hpp>

using namespace rampart;
using Kind = http::HeaderEdit::Kind;

TEST_CASE("security_headers: edits in order, HSTS only on TLS, default mode kept") {
  config::SecurityHeadersSpec spec;
  spec.hsts = "max-age=31536000; includeSubDomains";
  spec.headers = {{"x-frame-options", {"DENY", config::HeaderValueSpec::Mode::set}},
                  {"referrer-policy", {"no-referrer", config::HeaderValueSpec::Mode::set_default}}};
  spec.remove = {"server"};
  policy::SecurityHeaders sh(spec);

  http::HeaderEdits plain;
  sh.on_response({200, "text/html", "/", false}, plain);
  REQUIRE(plain.count == 3);
  CHECK(plain.items[0].kind == Kind::remove);
  CHECK(plain.items[0].name == "server");
  CHECK(plain.items[1].kind == Kind::set);
  CHECK(plain.items[1].name == "x-frame-options");
  CHECK(plain.items[2].kind == Kind::set_default);
  CHECK(plain.replaces("X-Frame-Options"));
  CHECK(plain.replaces("server"));
  CHECK_FALSE(plain.replaces("referrer-policy"));

  http::HeaderEdits tls;
  sh.on_response({502, "", "/", true}, tls);
  REQUIRE(tls.count == 4);
  CHECK(tls.items[1].name == "strict-transport-security");
  CHECK(tls.items[1].value == "max-age=31536000; includeSubDomains");
}
