// Edge policies end to end: security headers (also on Rampart's own errors, HSTS on TLS only),
// cache-control rules and the spa preset, and the merge rules between a server and its routes.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace it {
namespace {

const char* const policies_config = R"(version: 1
workers: 1
watch: false
admin: {address: "127.0.0.1:0"}
defaults: {trusted_proxies: ["127.0.0.2/32"]}
listeners:
  - {name: http, address: "127.0.0.1:0"}
policies:
  - name: secure
    security_headers:
      hsts: {max_age: 365d, include_subdomains: true}
      content_security_policy: "default-src 'self'"
      x_frame_options: DENY
      x_content_type_options: nosniff
      referrer_policy: {value: no-referrer, mode: default}
      remove: [server, x-powered-by]
  - name: spa
    cache_control: {preset: spa}
  - name: api-cors
    cors: {allow_origins: ["https://app.example.com", "https://*.example.org"], allow_methods: [GET, POST, DELETE], allow_headers: [Content-Type, Authorization], expose_headers: [X-Request-ID], allow_credentials: true, max_age: 10m}
  - name: guard
    access: {deny_paths: [/.git, /.env], deny_status: 404, methods: [GET, HEAD, POST, OPTIONS]}
  - name: office
    access: {allow: [10.0.0.0/8]}
  - name: short
    cache_control: {rules: [{value: "private, max-age=10", statuses: [200], vary: [Authorization, Accept-Encoding]}]}
servers:
  - name: app
    hosts: ["*"]
    policies: [secure, spa, guard]
    routes:
      - {name: office, path: /office/, upstream: web, policies: [office]}
      - {name: api, path: /api/, upstream: web, policies: [api-cors]}
      - {name: private, path: /private/, upstream: web, rewrite_prefix: /, policies: [short]}
      - {name: raw, path: /raw/, upstream: web, rewrite_prefix: /, without: [secure]}
      - {name: down, path: /down/, upstream: dead}
      - {name: web, path: /, upstream: web}
upstreams:
  - {name: web, endpoints: ["{{WEB}}"]}
  - {name: dead, endpoints: ["{{DEAD}}"]}
)";

}  // namespace

TEST_CASE("policies: security headers on proxied responses and on Rampart's own errors") {
  Upstream web("web");
  Proxy p(subst(policies_config, {{"WEB", web.address()}, {"DEAD", "127.0.0.1:" + std::to_string(closed_port())}}));
  const auto port = p.port("http");

  Response r = get(port, "/page?header=Server:Apache&header=X-Powered-By:PHP&header=Referrer-Policy:origin");
  REQUIRE_RESPONSE(r);
  CHECK(r.status == 200);
  CHECK(r.header("content-security-policy") == std::optional<std::string>("default-src 'self'"));
  CHECK(r.header("x-frame-options") == std::optional<std::string>("DENY"));
  CHECK(r.header("x-content-type-options") == std::optional<std::string>("nosniff"));
  CHECK(r.header("referrer-policy") == std::optional<std::string>("origin"));  // mode default: the upstream's stays
  CHECK_FALSE(r.header("server"));
  CHECK_FALSE(r.header("x-powered-by"));
  CHECK_FALSE(r.header("strict-transport-security"));  // plain HTTP: never HSTS

  // An upstream's own X-Frame-Options gives way to the policy's (mode set).
  r = get(port, "/page?header=X-Frame-Options:ALLOWALL");
  CHECK(r.header("x-frame-options") == std::optional<std::string>("DENY"));
  CHECK(r.header_count("x-frame-options") == 1);

  // Rampart's own answers carry them too: 502 from a dead upstream, 404 with no route.
  Response bad = get(port, "/down/x");
  REQUIRE_RESPONSE(bad);
  CHECK(bad.status == 502);
  CHECK(bad.header("x-frame-options") == std::optional<std::string>("DENY"));
  CHECK(bad.header("referrer-policy") == std::optional<std::string>("no-referrer"));

  // A route may leave a server policy out, explicitly.
  Response raw = get(port, "/raw/page?header=Server:Apache");
  CHECK_FALSE(raw.header("x-frame-options"));
  CHECK(raw.header("server") == std::optional<std::string>("Apache"));
}

TEST_CASE("policies: the spa cache-control preset and a route's own cache rule") {
  Upstream web("web");
  Proxy p(subst(policies_config, {{"WEB", web.address()}, {"DEAD", "127.0.0.1:" + std::to_string(closed_port())}}));
  const auto port = p.port("http");
  auto cc = [&](const std::string& target) { return get(port, target).header("cache-control").value_or("<none>"); };

  CHECK(cc("/assets/app.3f9a1c2b.js") == "public, max-age=31536000, immutable");
  CHECK(cc("/assets/chunk-5d41402abc.css") == "public, max-age=31536000, immutable");
  CHECK(cc("/assets/app.js") == "<none>");                                   // not hashed: no rule
  CHECK(cc("/index.html?type=text/html%3B%20charset%3Dutf-8") == "no-cache");  // the HTML shell
  CHECK(cc("/api/users") == "no-store");
  CHECK(cc("/api/users?status=500") == "no-store");  // the API never caches, whatever the status
  CHECK(cc("/assets/app.3f9a1c2b.js?status=404") == "<none>");  // errors are not cached for a year
  // Cookies never ride on immutable static responses.
  Response asset = get(port, "/assets/app.3f9a1c2b.js?header=Set-Cookie:id%3D1");
  CHECK_FALSE(asset.header("set-cookie"));
  Response html = get(port, "/?type=text/html&header=Set-Cookie:id%3D1");
  CHECK(html.header("set-cookie") == std::optional<std::string>("id=1"));
  // 304 answers to conditional requests pass through untouched.
  CHECK(cc("/assets/app.3f9a1c2b.js?status=304") == "<none>");

  // The route's own cache_control replaces the server's spa one (same kind), and adds to Vary.
  Response priv = get(port, "/private/data?header=Vary:Accept-Encoding");
  CHECK(priv.header("cache-control") == std::optional<std::string>("private, max-age=10"));
  CHECK(priv.header_count("vary") == 2);  // Accept-Encoding (the upstream's) and Authorization
  CHECK(priv.header("x-frame-options") == std::optional<std::string>("DENY"));  // secure still inherited
}

TEST_CASE("policies: CORS preflights answered at the edge, headers for allowed origins only") {
  Upstream web("web");
  Proxy p(subst(policies_config, {{"WEB", web.address()}, {"DEAD", "127.0.0.1:" + std::to_string(closed_port())}}));
  const auto port = p.port("http");
  const auto before = std::stoull(upstream_stats(web).at("requests"));

  Response pre = fetch(port, request("OPTIONS", "/api/items", "Origin: https://app.example.com\r\n"
                                                              "Access-Control-Request-Method: DELETE\r\n"
                                                              "Access-Control-Request-Headers: authorization\r\n"));
  REQUIRE_RESPONSE(pre);
  CHECK(pre.status == 204);
  CHECK(pre.header("access-control-allow-origin") == std::optional<std::string>("https://app.example.com"));
  CHECK(pre.header("access-control-allow-methods") == std::optional<std::string>("GET, POST, DELETE"));
  CHECK(pre.header("access-control-allow-headers") == std::optional<std::string>("Content-Type, Authorization"));
  CHECK(pre.header("access-control-allow-credentials") == std::optional<std::string>("true"));
  CHECK(pre.header("access-control-max-age") == std::optional<std::string>("600"));
  CHECK(pre.header("vary") == std::optional<std::string>("Origin"));
  CHECK(pre.header("x-frame-options") == std::optional<std::string>("DENY"));  // the server's policies too

  Response denied = fetch(port, request("OPTIONS", "/api/items", "Origin: https://evil.test\r\n"
                                                                 "Access-Control-Request-Method: DELETE\r\n"));
  CHECK(denied.status == 204);
  CHECK_FALSE(denied.header("access-control-allow-origin"));
  CHECK(std::stoull(upstream_stats(web).at("requests")) == before);  // no preflight reached the upstream

  Response actual = get(port, "/api/items", "Origin: https://a.example.org\r\n");
  REQUIRE_RESPONSE(actual);
  CHECK(actual.status == 200);
  CHECK(actual.header("access-control-allow-origin") == std::optional<std::string>("https://a.example.org"));
  CHECK(actual.header("access-control-expose-headers") == std::optional<std::string>("X-Request-ID"));
  Response other = get(port, "/api/items", "Origin: https://evil.test\r\n");
  CHECK_FALSE(other.header("access-control-allow-origin"));
  CHECK_FALSE(get(port, "/page", "Origin: https://app.example.com\r\n").header("access-control-allow-origin"));  // not on this route
}

TEST_CASE("policies: access control by path, method and client address") {
  Upstream web("web");
  Proxy p(subst(policies_config, {{"WEB", web.address()}, {"DEAD", "127.0.0.1:" + std::to_string(closed_port())}}));
  const auto port = p.port("http");
  const auto before = std::stoull(upstream_stats(web).at("requests"));
  for (const char* target : {"/.git/config", "/.env", "/static/%2e%2e/.env", "//.git//HEAD", "/a/./../.git"}) {
    INFO(target);
    Response r = get(port, target);
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 404);
    CHECK(r.header("x-frame-options") == std::optional<std::string>("DENY"));  // still gets the server's headers
  }
  CHECK(std::stoull(upstream_stats(web).at("requests")) == before);  // none reached the upstream
  CHECK(get(port, "/.github/x").status == 200);

  Response del = fetch(port, request("DELETE", "/thing"));
  CHECK(del.status == 405);
  CHECK(del.header("allow") == std::optional<std::string>("GET, HEAD, POST, OPTIONS"));

  // /office/ admits 10.0.0.0/8 only; the client counts after trusted X-Forwarded-For handling.
  CHECK(get(port, "/office/x").status == 403);  // 127.0.0.1 itself
  Conn via_proxy(port, 2s, "127.0.0.2");        // a trusted proxy vouching for an office client
  REQUIRE(via_proxy.ok());
  REQUIRE(via_proxy.send(request("GET", "/office/x", "X-Forwarded-For: 10.1.2.3\r\n")));
  CHECK(via_proxy.read_response().status == 200);
  Conn forged(port);  // an untrusted peer claiming to be in the office
  REQUIRE(forged.ok());
  REQUIRE(forged.send(request("GET", "/office/x", "X-Forwarded-For: 10.1.2.3\r\n")));
  CHECK(forged.read_response().status == 403);
}

TEST_CASE("policies: HSTS only on TLS listeners") {
  TempDir dir;
  {
    Process gen("/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                     "-days", "2", "-subj", "/CN=example.test", "-keyout", dir.path() + "/c.key", "-out",
                                     dir.path() + "/c.pem"});
    REQUIRE(gen.wait_exit(20s) == 0);
  }
  Upstream web("web");
  std::string yaml = subst(policies_config, {{"WEB", web.address()}, {"DEAD", "127.0.0.1:" + std::to_string(closed_port())}});
  const std::string tls = "  - name: https\n    address: \"127.0.0.1:0\"\n    tls: {certificates: [{cert: \"" +
                          dir.path() + "/c.pem\", key: \"" + dir.path() + "/c.key\"}]}\npolicies:";
  yaml.replace(yaml.find("policies:"), std::string("policies:").size(), tls);
  Proxy p(yaml);
  CurlResult r = curl({"-k", "-sS", "-D", "-", "-o", "/dev/null", "https://127.0.0.1:" + std::to_string(p.port("https")) + "/"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("strict-transport-security: max-age=31536000; includeSubDomains") != std::string::npos);
  CHECK_FALSE(get(p.port("http"), "/").header("strict-transport-security"));
}

}  // namespace it
