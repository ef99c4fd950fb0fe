// Observability (issue #4): the admin endpoints, metrics that move with traffic, promtool and a
// real Prometheus server scraping Rampart, and the JSON access log (escaping, flags, per-route
// and sampling switches, SIGUSR1 reopen).
#include "fixtures.hpp"

#include "../unit/observe/access_log_json_check.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace it {
namespace {

using rampart::observe::test::Json;
using rampart::observe::test::parse_json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs `rampart healthcheck URL` and returns its exit code.
int healthcheck(const std::string& url) {
  Process p(rampart_bin(), {"healthcheck", url});
  return p.wait_exit(10s);
}

// The JSON member `key` of `obj` as text (string value, or a number's literal); "<absent>" or
// "<null>" otherwise.
std::string field(const Json& obj, const std::string& key) {
  const Json* v = obj.get(key);
  if (v == nullptr) return "<absent>";
  if (v->kind == Json::Kind::null) return "<null>";
  return v->text;
}

// Scrapes until `done(samples)` holds or `timeout` runs out; returns the last scrape.
template <class Pred>
std::vector<Sample> scrape_until(const Proxy& p, Pred done, Ms timeout = 3s) {
  auto deadline = Clock::now() + timeout;
  std::vector<Sample> s = scrape(p);
  while (!done(s) && Clock::now() < deadline) {
    sleep_for(50ms);
    s = scrape(p);
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Admin endpoints

TEST_CASE("admin: liveness, readiness, config, upstreams, reload, errors, healthcheck") {
  Stack s;
  Proxy& p = *s.proxy;
  INFO(p.process().output());

  for (const char* path : {"/livez", "/readyz", "/healthz"}) {
    Response r = admin_get(p, path);
    INFO(path << "\n" << r.raw_head << r.body);
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
  }

  // The admin endpoints are on the admin listener only: the public listener routes /metrics to
  // the catch-all route like any other path.
  Response pub = get(s.port(), "/metrics");
  REQUIRE_RESPONSE(pub);
  CHECK(pub.body.find("rampart_requests_total") == std::string::npos);

  SECTION("GET /config is the effective config as YAML") {
    Response r = admin_get(p, "/config");
    INFO(r.raw_head << r.body);
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type").value_or("").find("yaml") != std::string::npos);
    for (const char* name : {"name: http", "name: app", "name: wild", "name: only", "name: ping", "name: api",
                             "name: canary", "name: web", "name: dead"})
      CHECK(r.body.find(name) != std::string::npos);
    CHECK(r.body.find(s.api1.address()) != std::string::npos);
  }

  SECTION("GET /upstreams is JSON with every pool and endpoint") {
    Response r = admin_get(p, "/upstreams");
    INFO(r.raw_head << r.body);
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type").value_or("").find("json") != std::string::npos);
    auto doc = parse_json(r.body);
    REQUIRE(doc.has_value());
    REQUIRE(doc->kind == Json::Kind::object);
    const Json* ups = doc->get("upstreams");
    REQUIRE(ups != nullptr);
    REQUIRE(ups->kind == Json::Kind::array);
    std::map<std::string, std::set<std::string>> pools;
    for (const Json& u : ups->items) {
      REQUIRE(u.kind == Json::Kind::object);
      std::string name = field(u, "name");
      const Json* eps = u.get("endpoints");
      REQUIRE(eps != nullptr);
      REQUIRE(eps->kind == Json::Kind::array);
      for (const Json& e : eps->items) pools[name].insert(field(e, "address"));
    }
    std::map<std::string, std::set<std::string>> expected = {
        {"api", {s.api1.address(), s.api2.address()}},
        {"web", {s.web.address()}},
        {"dead", {"127.0.0.1:" + std::to_string(s.dead)}},
    };
    CHECK(pools == expected);
  }

  SECTION("POST /-/reload reloads; GET answers 405; unknown paths 404") {
    Response r = fetch(p.admin_port(), request("POST", "/-/reload", "", "", "127.0.0.1"), 10s);
    INFO(r.raw_head << r.body);
    REQUIRE_RESPONSE(r);
    CHECK(r.status == 200);
    CHECK(r.body.find("reload ok generation=2") != std::string::npos);
    p.process().wait_for_line(std::regex("rampart: reload ok generation=2"), 5s);
    auto m = scrape(p);
    CHECK(metric(m, "rampart_config_generation") == 2);
    CHECK(metric(m, "rampart_config_reloads_total", {{"result", "success"}}) == 1);
    CHECK(metric(m, "rampart_config_reloads_total", {{"result", "failure"}}) == 0);
    Response still = get(s.port(), "/ping");
    REQUIRE_RESPONSE(still);
    CHECK(still.body == "pong\n");

    Response g = admin_get(p, "/-/reload");
    INFO(g.raw_head << g.body);
    REQUIRE_RESPONSE(g);
    CHECK(g.status == 405);
    CHECK(g.header("allow") == std::optional<std::string>("POST"));

    Response nf = admin_get(p, "/nope");
    REQUIRE_RESPONSE(nf);
    CHECK(nf.status == 404);
    CHECK(metric(scrape(p), "rampart_config_generation") == 2);  // GET did not reload
  }

  SECTION("rampart healthcheck exits 0 when ready, 1 against a closed port") {
    CHECK(healthcheck("http://127.0.0.1:" + std::to_string(p.admin_port()) + "/readyz") == 0);
    CHECK(healthcheck("http://127.0.0.1:" + std::to_string(closed_port()) + "/readyz") == 1);
    CHECK(healthcheck("http://127.0.0.1:" + std::to_string(p.admin_port()) + "/nope") == 1);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Metrics move with traffic

TEST_CASE("metrics: a request to a route increments exactly that route's counters") {
  Stack s;
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const std::uint16_t port = s.port();

  const std::map<std::string, std::string> ping = {{"server", "app"}, {"route", "ping"}};
  const std::map<std::string, std::string> canary = {{"server", "app"}, {"route", "canary"}};
  const std::map<std::string, std::string> wild = {{"server", "wild"}, {"route", "wild"}};
  const std::map<std::string, std::string> api = {{"server", "app"}, {"route", "api"}};
  const std::map<std::string, std::string> none = {{"server", "-"}, {"route", "-"}};

  // Warm up every series once so that "before" values are real numbers, then measure.
  REQUIRE(get(port, "/ping").status == 200);
  REQUIRE(get(port, "/nothing", "", "only.example").status == 404);
  auto before = scrape_until(p, [&](const std::vector<Sample>& m) {
    return metric(m, "rampart_requests_total", ping) >= 1 && metric(m, "rampart_requests_total", none) >= 1;
  });
  const double ping0 = metric(before, "rampart_requests_total", ping);
  const double ping_get_2xx0 =
      metric(before, "rampart_requests_total", {{"server", "app"}, {"route", "ping"}, {"method", "GET"}, {"code_class", "2xx"}});
  const double canary0 = metric(before, "rampart_requests_total", canary);
  const double wild0 = metric(before, "rampart_requests_total", wild);
  const double api0 = metric(before, "rampart_requests_total", api);
  const double none0 = metric(before, "rampart_requests_total", none);
  const double none4xx0 = metric(before, "rampart_requests_total", {{"server", "-"}, {"route", "-"}, {"code_class", "4xx"}});
  const double up_api0 = metric(before, "rampart_upstream_requests_total", {{"upstream", "api"}, {"code_class", "2xx"}});
  const double up_web0 = metric(before, "rampart_upstream_requests_total", {{"upstream", "web"}});
  const double ep_api0 = metric(before, "rampart_upstream_endpoint_requests_total", {{"upstream", "api"}});
  const double recv0 = metric(before, "rampart_received_bytes_total", ping);
  const double sent0 = metric(before, "rampart_sent_bytes_total", ping);
  const double dur0 = metric(before, "rampart_request_duration_seconds_count", ping);
  const double conns0 = metric(before, "rampart_connections_total", {{"listener", "http"}});

  const int N = 7;
  for (int i = 0; i < N; ++i) {
    Response r = get(port, "/ping");
    REQUIRE_RESPONSE(r);
    REQUIRE(r.status == 200);
  }
  Response nr = get(port, "/nothing/here", "", "only.example");
  REQUIRE_RESPONSE(nr);
  REQUIRE(nr.status == 404);
  const int U = 3;
  for (int i = 0; i < U; ++i) require_echo(get(port, "/api/echo"));

  auto done = [&](const std::vector<Sample>& m) {
    return metric(m, "rampart_requests_total", ping) >= ping0 + N &&
           metric(m, "rampart_requests_total", none) >= none0 + 1 &&
           metric(m, "rampart_requests_total", api) >= api0 + U &&
           metric(m, "rampart_upstream_requests_total", {{"upstream", "api"}, {"code_class", "2xx"}}) >= up_api0 + U;
  };
  scrape_until(p, done);
  sleep_for(300ms);  // anything counted twice would show up by now
  auto after = scrape(p);

  CHECK(metric(after, "rampart_requests_total", ping) == ping0 + N);
  CHECK(metric(after, "rampart_requests_total",
               {{"server", "app"}, {"route", "ping"}, {"method", "GET"}, {"code_class", "2xx"}}) == ping_get_2xx0 + N);
  CHECK(metric(after, "rampart_request_duration_seconds_count", ping) == dur0 + N);
  CHECK(metric(after, "rampart_received_bytes_total", ping) > recv0);
  CHECK(metric(after, "rampart_sent_bytes_total", ping) >= sent0 + N * 5);  // "pong\n" at least
  CHECK(metric(after, "rampart_requests_total", canary) == canary0);
  CHECK(metric(after, "rampart_requests_total", wild) == wild0);
  CHECK(metric(after, "rampart_requests_total", none) == none0 + 1);
  CHECK(metric(after, "rampart_requests_total", {{"server", "-"}, {"route", "-"}, {"code_class", "4xx"}}) ==
        none4xx0 + 1);
  CHECK(metric(after, "rampart_requests_total", api) == api0 + U);
  CHECK(metric(after, "rampart_upstream_requests_total", {{"upstream", "api"}, {"code_class", "2xx"}}) == up_api0 + U);
  CHECK(metric(after, "rampart_upstream_endpoint_requests_total", {{"upstream", "api"}}) == ep_api0 + U);
  CHECK(metric(after, "rampart_upstream_requests_total", {{"upstream", "web"}}) == up_web0);
  CHECK(metric(after, "rampart_connections_total", {{"listener", "http"}}) >= conns0 + N + 1 + U);
  CHECK(metric(after, "rampart_build_info") == 1);
  CHECK(metric(after, "rampart_draining") == 0);
  CHECK(metric(after, "rampart_config_generation") == 1);
  // Label values come from the config, never from the request.
  for (const auto& smp : after)
    for (const auto& [k, v] : smp.labels) {
      INFO(smp.name << " " << k << "=" << v);
      CHECK(v.find("nothing") == std::string::npos);
      CHECK(v.find("only.example") == std::string::npos);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. promtool

TEST_CASE("metrics: promtool check metrics passes on a real scrape") {
  Process which("/bin/sh", {"-c", "command -v promtool"});
  if (which.wait_exit(10s) != 0)
    FAIL("promtool not found: install the Debian package `prometheus` (scripts/install-deps.sh)");

  Stack s;
  Proxy& p = *s.proxy;
  const std::uint16_t port = s.port();
  // Traffic that fills every kind of family: local, proxied, no route, upstream failure.
  REQUIRE(get(port, "/ping").status == 200);
  require_echo(get(port, "/api/echo"));
  REQUIRE(get(port, "/x", "", "only.example").status == 404);
  REQUIRE(get(port, "/dead/x").status == 502);
  sleep_for(200ms);
  Response r = admin_get(p, "/metrics");
  REQUIRE_RESPONSE(r);
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").value_or("").find("text/plain") != std::string::npos);
  CHECK(r.body.find("rampart_upstream_connect_failures_total") != std::string::npos);

  TempDir dir;
  std::string file = dir.write("scrape.txt", r.body);
  Process promtool("/bin/sh", {"-c", "promtool check metrics < '" + file + "'"});
  int code = promtool.wait_exit(30s);
  INFO("promtool output:\n" << promtool.output() << "\nscrape:\n" << r.body.substr(0, 4000));
  CHECK(code == 0);
}

// ---------------------------------------------------------------------------------------------
// 4. A real Prometheus server

TEST_CASE("metrics: a real Prometheus server scrapes Rampart's request counter") {
  const std::string prometheus = "/usr/bin/prometheus";
  if (::access(prometheus.c_str(), X_OK) != 0)
    FAIL("/usr/bin/prometheus not found: install the Debian package `prometheus` (scripts/install-deps.sh)");

  Stack s;
  Proxy& p = *s.proxy;
  TempDir dir;
  const std::uint16_t prom_port = closed_port();
  std::string config = dir.write("prometheus.yml", subst(R"(global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rampart
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:{{ADMIN}}"]
)",
                                                               {{"ADMIN", std::to_string(p.admin_port())}}));
  std::filesystem::create_directory(dir.path() + "/data");
  Process prom(prometheus, {"--config.file=" + config, "--storage.tsdb.path=" + dir.path() + "/data",
                            "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)});

  for (int i = 0; i < 5; ++i) REQUIRE(get(s.port(), "/ping").status == 200);

  const std::string url = "http://127.0.0.1:" + std::to_string(prom_port) +
                          "/api/v1/query?query=rampart_requests_total%7Broute%3D%22ping%22%7D";
  auto deadline = Clock::now() + 30s;
  std::string last;
  double value = 0;
  while (Clock::now() < deadline && value <= 0) {
    sleep_for(500ms);
    REQUIRE(prom.running());
    CurlResult c = curl({url}, 3);
    last = c.out + c.err;
    if (c.exit_code != 0) continue;
    auto doc = parse_json(c.out);
    if (!doc || field(*doc, "status") != "success") continue;
    const Json* data = doc->get("data");
    const Json* result = data ? data->get("result") : nullptr;
    if (result == nullptr || result->kind != Json::Kind::array) continue;
    for (const Json& series : result->items) {
      const Json* m = series.get("metric");
      const Json* v = series.get("value");
      if (m == nullptr || v == nullptr || v->kind != Json::Kind::array || v->items.size() != 2) continue;
      if (field(*m, "__name__") != "rampart_requests_total" || field(*m, "server") != "app" ||
          field(*m, "route") != "ping" || field(*m, "job") != "rampart")
        continue;
      value += std::stod(v->items[1].text);
    }
  }
  INFO("last answer from Prometheus: " << last << "\nprometheus output:\n" << prom.output());
  CHECK(value >= 5);

  prom.signal(SIGTERM);
  CHECK(prom.wait_exit(20s) == 0);
}

// ---------------------------------------------------------------------------------------------
// 5. Access log

namespace {

const std::vector<std::string> kAllFields = {
    "ts",          "request_id", "client_ip",    "client_port",  "method",       "scheme",
    "host",        "path",       "protocol",     "status",       "bytes_received", "bytes_sent",
    "duration_s",  "upstream_duration_s", "route", "upstream",   "upstream_addr", "upstream_status",
    "flags",       "tls_version", "user_agent",  "referer"};

// Parses every line of the log strictly; fails the test on any that is not a JSON object with
// every default field in order.
std::vector<Json> parse_log(const std::string& text) {
  INFO("access log:\n" << text);
  auto lines = rampart::observe::test::split_lines(text);
  REQUIRE(lines.has_value());  // every line ends with '\n'
  std::vector<Json> out;
  static const std::regex ts(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  for (const auto& line : *lines) {
    INFO("line: " << line);
    auto j = parse_json(line);
    REQUIRE(j.has_value());
    REQUIRE(j->kind == Json::Kind::object);
    CHECK(j->keys() == kAllFields);
    CHECK(std::regex_match(field(*j, "ts"), ts));
    CHECK(field(*j, "client_ip") == "127.0.0.1");
    CHECK(j->get("status")->kind == Json::Kind::number);
    out.push_back(std::move(*j));
  }
  return out;
}

// Waits until the file holds at least `n` complete lines (or 5 s pass); returns its text.
std::string wait_lines(const std::string& path, std::size_t n) {
  auto deadline = Clock::now() + 5s;
  std::string text;
  for (;;) {
    text = read_file(path);
    std::size_t count = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    if (count >= n || Clock::now() >= deadline) return text;
    sleep_for(50ms);
  }
}

const Json* by_request_id(const std::vector<Json>& lines, const std::string& id) {
  for (const auto& j : lines)
    if (field(j, "request_id") == id) return &j;
  return nullptr;
}

// Sends `raw` on a fresh connection and returns the response.
Response send_raw(std::uint16_t port, const std::string& raw) { return fetch(port, raw); }

}  // namespace

TEST_CASE("access log: every line is strict JSON with the right fields, a route can turn it off, SIGUSR1 reopens the file") {
  Stack s({{"TOP", "access_log: {path: access.log}\n"},
           {"EXTRA_ROUTES",
            "      - {name: quiet, path: /quiet, match: exact, access_log: false, respond: {status: 200, body: \"q\\n\"}}\n"}});
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const std::uint16_t port = s.port();
  const std::string log = p.dir() + "/access.log";

  // 1. A user agent with quotes, backslashes, a tab, invalid UTF-8 (obs-text) and valid UTF-8.
  const std::string ua = "agent \"quoted\" back\\slash\\\\ tab\there \xff\x80 caf\xc3\xa9";
  const std::string ua_decoded = "agent \"quoted\" back\\slash\\\\ tab\there \xc3\xbf\xc2\x80 caf\xc3\xa9";
  Response weird = send_raw(port, request("GET", "/ping", "User-Agent: " + ua + "\r\nReferer: http://r.example/\"x\"\r\n"));
  REQUIRE_RESPONSE(weird);
  REQUIRE(weird.status == 200);
  const std::string weird_id = weird.header("x-request-id").value_or("");
  REQUIRE(!weird_id.empty());

  // 2. A control character the parser refuses: 400, still a valid log line.
  Response bad = send_raw(port, request("GET", "/ping", std::string("User-Agent: evil\x01\x1b[31m\r\n")));
  REQUIRE_RESPONSE(bad);
  REQUIRE(bad.status == 400);

  // 3. No route (404), 4. a redirect, 5. a proxied request, 6. a route with access_log: false.
  Response nr = get(port, "/nothing", "", "only.example");
  REQUIRE_RESPONSE(nr);
  REQUIRE(nr.status == 404);
  Response redirect = get(port, "/old");
  REQUIRE_RESPONSE(redirect);
  REQUIRE(redirect.status == 301);
  Response proxied = get(port, "/api/echo");
  require_echo(proxied);
  Response quiet = get(port, "/quiet");
  REQUIRE_RESPONSE(quiet);
  REQUIRE(quiet.status == 200);

  std::string text = wait_lines(log, 5);
  sleep_for(500ms);  // a line for /quiet, if any, would be written by now (50 ms writer tick)
  text = read_file(log);
  std::vector<Json> lines = parse_log(text);
  INFO("access log:\n" << text);
  REQUIRE(lines.size() == 5);

  const Json* w = by_request_id(lines, weird_id);
  REQUIRE(w != nullptr);
  CHECK(field(*w, "status") == "200");
  CHECK(field(*w, "user_agent") == ua_decoded);
  CHECK(field(*w, "referer") == "http://r.example/\"x\"");
  CHECK(field(*w, "route") == "ping");
  CHECK(field(*w, "upstream") == "");
  CHECK(field(*w, "flags") == "LR");
  CHECK(field(*w, "method") == "GET");
  CHECK(field(*w, "path") == "/ping");
  CHECK(field(*w, "host") == "test.local");
  CHECK(field(*w, "protocol") == "HTTP/1.1");
  CHECK(field(*w, "scheme") == "http");
  CHECK(field(*w, "upstream_status") == "<null>");
  CHECK(field(*w, "upstream_duration_s") == "<null>");
  CHECK(field(*w, "tls_version") == "<null>");

  const Json* b = nullptr;
  for (const auto& j : lines)
    if (field(j, "status") == "400") b = &j;
  REQUIRE(b != nullptr);
  CHECK(field(*b, "flags").find("IH") != std::string::npos);
  CHECK(field(*b, "route") == "");

  const Json* n = by_request_id(lines, nr.header("x-request-id").value_or("?"));
  REQUIRE(n != nullptr);
  CHECK(field(*n, "status") == "404");
  CHECK(field(*n, "flags") == "NR");
  CHECK(field(*n, "route") == "");
  CHECK(field(*n, "host") == "only.example");

  const Json* r = by_request_id(lines, redirect.header("x-request-id").value_or("?"));
  REQUIRE(r != nullptr);
  CHECK(field(*r, "status") == "301");
  CHECK(field(*r, "flags") == "LR");
  CHECK(field(*r, "route") == "old");

  const Json* u = by_request_id(lines, proxied.header("x-request-id").value_or("?"));
  REQUIRE(u != nullptr);
  CHECK(field(*u, "status") == "200");
  CHECK(field(*u, "flags") == "");
  CHECK(field(*u, "route") == "api");
  CHECK(field(*u, "upstream") == "api");
  CHECK(field(*u, "upstream_status") == "200");
  CHECK(u->get("upstream_duration_s")->kind == Json::Kind::number);
  const std::string addr = field(*u, "upstream_addr");
  CHECK((addr == s.api1.address() || addr == s.api2.address()));
  CHECK(field(*u, "path") == "/api/echo");
  CHECK(std::stoull(field(*u, "bytes_sent")) >= proxied.body.size());

  for (const auto& j : lines) CHECK(field(j, "path") != "/quiet");

  // Rotation: move the file away, SIGUSR1, new lines go to a new file at the same path.
  const std::string rotated = log + ".1";
  REQUIRE(std::rename(log.c_str(), rotated.c_str()) == 0);
  p.process().set_cursor(p.process().line_count());
  p.process().signal(SIGUSR1);
  p.process().wait_for_line(std::regex("rampart: access log reopened"), 5s);
  Response after = get(port, "/ping", "User-Agent: after-rotation\r\n");
  REQUIRE_RESPONSE(after);
  REQUIRE(after.status == 200);
  std::string fresh = wait_lines(log, 1);
  sleep_for(200ms);
  fresh = read_file(log);
  std::vector<Json> new_lines = parse_log(fresh);
  REQUIRE(new_lines.size() == 1);
  CHECK(field(new_lines[0], "request_id") == after.header("x-request-id").value_or("?"));
  CHECK(field(new_lines[0], "user_agent") == "after-rotation");
  std::vector<Json> old_lines = parse_log(read_file(rotated));
  CHECK(old_lines.size() == 5);
  CHECK(by_request_id(old_lines, weird_id) != nullptr);
}

TEST_CASE("access log: sample 0 logs nothing") {
  Stack s(std::map<std::string, std::string>{{"TOP", "access_log: {path: access.log, sample: 0}\n"}});
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const std::uint16_t port = s.port();
  REQUIRE(get(port, "/ping").status == 200);
  require_echo(get(port, "/api/echo"));
  REQUIRE(get(port, "/old").status == 301);
  REQUIRE(get(port, "/nothing", "", "only.example").status == 404);
  REQUIRE(send_raw(port, request("GET", "/ping", std::string("User-Agent: \x01\r\n"))).status == 400);
  // The requests are counted (metrics count every request), the log stays empty.
  scrape_until(p, [&](const std::vector<Sample>& m) {
    return metric(m, "rampart_requests_total") >= 5;
  });
  sleep_for(500ms);
  const std::string log = p.dir() + "/access.log";
  std::error_code ec;
  auto size = std::filesystem::exists(log) ? std::filesystem::file_size(log, ec) : 0;
  INFO(read_file(log));
  CHECK(size == 0);
  CHECK(metric(scrape(p), "rampart_requests_total") >= 5);
}

}  // namespace it

// ---------------------------------------------------------------------------------------------
// 6. GET /config redacts secrets; `rampart dump` does not

namespace it {
namespace {

// A self-signed P-256 certificate for `name`: DIR/STEM.pem and DIR/STEM.key.
void make_cert(const std::string& dir, const std::string& stem, const std::string& name) {
  run_tool("/usr/bin/openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                "-days", "2", "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
                                "-keyout", dir + "/" + stem + ".key", "-out", dir + "/" + stem + ".pem"});
  REQUIRE(std::ifstream(dir + "/" + stem + ".key").good());
}

}  // namespace

TEST_CASE("admin: GET /config redacts key paths and credential header values, rampart dump shows them") {
  TempDir certs;
  make_cert(certs.path(), "site", "site.test");
  const std::string key_path = certs.path() + "/site.key";
  const std::string cert_path = certs.path() + "/site.pem";
  const std::string token = "Bearer tok-4f1c9e2a7b";
  Upstream web("web");
  Proxy p("version: 1\nworkers: 1\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
          "listeners:\n"
          "  - {name: http, address: \"127.0.0.1:0\"}\n"
          "  - name: https\n    address: \"127.0.0.1:0\"\n    tls:\n"
          "      certificates: [{cert: \"" + cert_path + "\", key: \"" + key_path + "\"}]\n"
          "servers:\n  - name: s\n    hosts: [\"*\"]\n    routes:\n"
          "      - {name: api, path: /, upstream: web, request_headers: {set: {authorization: \"" + token +
          "\", x-route: api}}}\n"
          "upstreams:\n  - {name: web, endpoints: [\"" + web.address() + "\"]}\n");
  INFO(p.process().output());

  // The token is really in use: the upstream receives it.
  Echo e = require_echo(get(p.port(), "/echo"));
  CHECK(e.headers.find("authorization") != e.headers.end());
  CHECK(e.headers.find("authorization")->second == token);

  Response r = admin_get(p, "/config");
  INFO(r.raw_head << r.body);
  REQUIRE_RESPONSE(r);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("<redacted>") != std::string::npos);
  CHECK(r.body.find(key_path) == std::string::npos);
  CHECK(r.body.find("site.key") == std::string::npos);
  CHECK(r.body.find("tok-4f1c9e2a7b") == std::string::npos);
  // What is not a secret is still shown.
  CHECK(r.body.find(cert_path) != std::string::npos);
  CHECK(r.body.find("authorization") != std::string::npos);
  CHECK(r.body.find("x-route: api") != std::string::npos);
  CHECK(r.body.find(web.address()) != std::string::npos);

  // The operator's console keeps the whole config.
  const std::string full = run_tool(rampart_bin(), {"dump", "-c", p.config_path()});
  INFO("rampart dump:\n" << full);
  CHECK(full.find(key_path) != std::string::npos);
  CHECK(full.find(token) != std::string::npos);
  CHECK(full.find("<redacted>") == std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// 7. Rampart's own log on stderr: JSON or text, filtered by level

namespace {

// Polls GET /readyz on the admin port until it answers 200 (nothing is printed at level warn).
void wait_ready(std::uint16_t admin_port, Process& p) {
  auto deadline = Clock::now() + 10s;
  for (;;) {
    Response r = fetch(admin_port, request("GET", "/readyz", "", "", "127.0.0.1"), 1s);
    if (r.ok && r.status == 200) return;
    INFO(p.output());
    REQUIRE(p.running());
    REQUIRE(Clock::now() < deadline);
    sleep_for(50ms);
  }
}

std::vector<std::string> stderr_lines(const Process& p) {
  auto lines = rampart::observe::test::split_lines(p.raw_stderr());
  REQUIRE(lines.has_value());  // every line complete
  return *lines;
}

}  // namespace

TEST_CASE("own log: format json at level warn prints only warn and error lines, each a JSON object") {
  TempDir dir;
  const std::uint16_t port = closed_port();
  const std::uint16_t admin = closed_port();
  const std::uint16_t dead = closed_port();
  auto config = [&](int workers, const std::string& extra) {
    return "version: 1\nworkers: " + std::to_string(workers) +
           "\nwatch: false\nlog: {format: json, level: warn}\n"
           "admin: {address: \"127.0.0.1:" + std::to_string(admin) + "\"}\n"
           "listeners: [{name: http, address: \"127.0.0.1:" + std::to_string(port) + "\"}]\n"
           "servers:\n  - name: s\n    hosts: [\"*\"]\n    routes:\n"
           "      - {name: ping, path: /ping, respond: {status: 200, body: \"pong\\n\"}}\n"
           "      - {name: dead, path: /, upstream: dead, retry: false}\n"
           "upstreams:\n  - {name: dead, endpoints: [\"127.0.0.1:" + std::to_string(dead) +
           "\"], outlier: {consecutive_failures: 2}}\n" + extra;
  };
  const std::string path = dir.write("rampart.yaml", config(1, ""));
  Process p(rampart_bin(), {"-c", path});
  wait_ready(admin, p);
  INFO(p.output());
  REQUIRE(get(port, "/ping").body == "pong\n");

  // warn from a worker: the dead endpoint is ejected after two connect failures.
  for (int i = 0; i < 2; ++i) CHECK(get(port, "/x").status >= 502);
  p.wait_for_line(std::regex(R"re("level":"warn".*endpoint 127\.0\.0\.1:\d+ ejected)re"), 5s);

  // warn from the control thread: a reload that changes `workers` (its "reload ok" is info).
  dir.write("rampart.yaml", config(2, ""));
  p.signal(SIGHUP);
  p.wait_for_line(std::regex(R"re("level":"warn".*'workers' changes take effect on restart)re"), 5s);

  // error: a reload with an unknown key, its diagnostic (quotes included) as the msg.
  dir.write("rampart.yaml", config(2, "bogus_key: 1\n"));
  p.signal(SIGHUP);
  p.wait_for_line(std::regex(R"re("level":"error","msg":"reload failed)re"), 5s);
  p.wait_for_line(std::regex(R"re("level":"error","msg":".*rampart\.yaml:\d+:\d+: error: unknown key 'bogus_key')re"), 5s);
  // The failed reload left the running config in place.
  CHECK(fetch(admin, request("GET", "/readyz", "", "", "127.0.0.1")).status == 200);
  CHECK(get(port, "/ping").body == "pong\n");

  p.signal(SIGTERM);
  CHECK(p.wait_exit(10s) == 0);

  static const std::regex ts(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  const std::vector<std::string> lines = stderr_lines(p);
  std::map<std::string, int> levels;
  for (const std::string& line : lines) {
    INFO("line: " << line);
    auto j = parse_json(line);
    REQUIRE(j.has_value());
    REQUIRE(j->kind == Json::Kind::object);
    CHECK(j->keys() == std::vector<std::string>{"ts", "level", "msg"});
    CHECK(std::regex_match(field(*j, "ts"), ts));
    const std::string level = field(*j, "level");
    ++levels[level];
    CHECK((level == "warn" || level == "error"));
    const std::string msg = field(*j, "msg");
    CHECK(!msg.empty());
    // The info events of this run never show.
    for (const char* info : {"listening", "admin listening", "ready", "reload ok", "shutting down", "draining", "stopped"})
      CHECK(msg.rfind(info, 0) != 0);
  }
  CHECK(levels["warn"] >= 2);
  CHECK(levels["error"] >= 2);
  CHECK(p.raw_stdout().empty());
}

TEST_CASE("own log: format text at level info shows the listening and ready lines and warnings") {
  Stack s;
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  REQUIRE(p.reload(s.config({{"WORKERS", "1"}})).ok);

  const std::vector<std::string> lines = stderr_lines(p.process());
  const std::string listening = "rampart: listening name=http address=127.0.0.1:" + std::to_string(s.port());
  bool saw_listening = false, saw_ready = false, saw_warn = false, saw_reload = false;
  for (const std::string& line : lines) {
    INFO("line: " << line);
    CHECK(line.rfind("rampart: ", 0) == 0);  // one shape for every text line
    saw_listening = saw_listening || line == listening;
    saw_ready = saw_ready || line == "rampart: ready workers=2 generation=1";
    saw_warn = saw_warn || line == "rampart: reload: 'workers' changes take effect on restart";
    saw_reload = saw_reload || line == "rampart: reload ok generation=2";
  }
  CHECK(saw_listening);
  CHECK(saw_ready);
  CHECK(saw_warn);
  CHECK(saw_reload);
}

// ---------------------------------------------------------------------------------------------
// 8. Access-log sampling per route

TEST_CASE("access log: a route's sample 0.5 logs about half its requests, sample 0 none, others all") {
  Stack s({{"TOP", "access_log: {path: access.log}\n"},
           {"EXTRA_ROUTES",
            "      - {name: half, path: /half, match: exact, access_log: {sample: 0.5}, respond: {status: 200, body: \"h\\n\"}}\n"
            "      - {name: never, path: /never, match: exact, access_log: {sample: 0}, respond: {status: 200, body: \"n\\n\"}}\n"}});
  Proxy& p = *s.proxy;
  INFO(p.process().output());
  const std::string log = p.dir() + "/access.log";

  // One keep-alive connection per batch: 400 to /half, 100 to /never, 20 to /ping.
  auto send = [&](const std::string& target, int n) {
    Conn c(s.port());
    REQUIRE(c.ok());
    for (int i = 0; i < n; ++i) {
      REQUIRE(c.send(request("GET", target)));
      Response r = c.read_response();
      REQUIRE_RESPONSE(r);
      REQUIRE(r.status == 200);
    }
  };
  send("/half", 400);
  send("/never", 100);
  send("/ping", 20);

  // Every request is counted, sampled or not.
  scrape_until(p, [&](const std::vector<Sample>& m) {
    return metric(m, "rampart_requests_total", {{"route", "half"}}) >= 400 &&
           metric(m, "rampart_requests_total", {{"route", "never"}}) >= 100 &&
           metric(m, "rampart_requests_total", {{"route", "ping"}}) >= 20;
  });
  wait_lines(log, 140);
  sleep_for(500ms);  // the writer thread's last lines (50 ms tick)
  const std::string text = read_file(log);
  std::vector<Json> lines = parse_log(text);
  std::map<std::string, int> by_route;
  for (const Json& j : lines) ++by_route[field(j, "route")];
  INFO("lines per route: half " << by_route["half"] << ", never " << by_route["never"] << ", ping "
                                << by_route["ping"]);
  // Binomial(400, 0.5): mean 200, standard deviation 10; 120..280 is eight deviations wide.
  CHECK(by_route["half"] >= 120);
  CHECK(by_route["half"] <= 280);
  CHECK(by_route["never"] == 0);
  CHECK(by_route["ping"] == 20);  // the server-wide log is on at sample 1
  CHECK(lines.size() == static_cast<std::size_t>(by_route["half"] + by_route["ping"]));
}

}  // namespace it
