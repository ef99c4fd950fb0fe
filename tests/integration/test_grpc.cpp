// gRPC through Rampart end to end, with a real gRPC server and client (Debian's python3-grpcio,
// tests/integration/grpc_echo.py): the client speaks HTTP/2 to Rampart (h2c, or TLS with ALPN
// h2), Rampart multiplexes the calls over an HTTP/2 upstream pool (`protocol: h2`) to the server.
// Unary with a 1 MiB message each way, an error status (grpc-status 5 and its message), server
// and client streaming, trailing metadata, 50 calls in flight at once; and the upstream pool's
// connection count stays at one.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace it {
namespace {

const char* kPython = "/usr/bin/python3";  // Debian's, where python3-grpcio is installed

std::string script() { return source_dir() + "/tests/integration/grpc_echo.py"; }

// The gRPC server on a free port.
class GrpcServer {
 public:
  GrpcServer() : process_(kPython, {script(), "serve"}) {
    const std::string line = process_.wait_for_line(std::regex("^listening [0-9]+"), 15s);
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.find(' ') + 1)));
  }
  ~GrpcServer() { process_.signal(SIGKILL); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  Process process_;
  std::uint16_t port_ = 0;
};

// Runs the client against `target`; returns its exit code and output lines (one JSON object per call).
struct CallResult {
  int exit_code = -1;
  std::vector<std::string> lines;
  std::string output;
};
CallResult call(const std::string& target) {
  Process client(kPython, {script(), "call", target});
  CallResult r;
  r.exit_code = client.wait_exit(60s);
  r.output = client.output();
  for (const auto& l : client.lines())
    if (l.rfind("{", 0) == 0) r.lines.push_back(l);
  return r;
}

bool has(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

// An h2c listener (plus `listener_extra`), the gRPC route to pool "grpc", and `upstreams` (the
// entries of the upstreams list, "grpc" among them).
std::string config_with(const std::string& upstreams, const std::string& listener_extra = "") {
  return "version: 1\nworkers: 2\nwatch: false\nadmin: {address: \"127.0.0.1:0\"}\n"
         "listeners:\n"
         "  - {name: h2c, address: \"127.0.0.1:0\", h2c: true}\n" +
         listener_extra +
         "servers:\n"
         "  - name: app\n"
         "    hosts: [\"*\"]\n"
         "    routes:\n"
         "      - {name: grpc, path: /test.Echo/, upstream: grpc, max_body_size: 0}\n"
         "upstreams:\n" + upstreams;
}

std::string config(const std::string& upstream, const std::string& listener_extra) {
  return config_with("  - {name: grpc, protocol: h2, endpoints: [\"" + upstream + "\"]}\n", listener_extra);
}

void check_calls(const CallResult& r) {
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.lines.size() == 5);
  CHECK(has(r.lines, R"("call": "unary", "ok": true, "size": 1048576, "code": "OK", "trailer": "done")"));
  CHECK(has(r.lines, R"("call": "fail", "ok": true, "code": "NOT_FOUND", "details": "no such thing")"));
  CHECK(has(r.lines, R"("call": "stream", "ok": true, "count": 20)"));
  CHECK(has(r.lines, R"("call": "collect", "ok": true, "total": "371005")"));
  CHECK(has(r.lines, R"("call": "concurrent", "ok": true, "count": 50)"));
}

}  // namespace

TEST_CASE("grpc: calls through an h2c listener to an HTTP/2 upstream pool keep messages, statuses and trailers") {
  GrpcServer server;
  // The server answers directly too (the script itself is sound).
  check_calls(call(server.address()));

  Proxy proxy(config(server.address(), ""));
  INFO(proxy.process().output());
  const std::string target = "127.0.0.1:" + std::to_string(proxy.port("h2c"));
  check_calls(call(target));
  check_calls(call(target));

  // 2 x 54 calls went through; every worker that served some kept one multiplexed connection.
  const auto m = scrape(proxy);
  CHECK(metric(m, "rampart_upstream_requests_total", {{"upstream", "grpc"}}) == 108);
  const double connects = metric(m, "rampart_upstream_connect_duration_seconds_count", {{"upstream", "grpc"}});
  CHECK(connects >= 1);
  CHECK(connects <= 2);
  CHECK(metric(m, "rampart_http2_connections_total", {{"listener", "h2c"}}) >= 2);
}

TEST_CASE("grpc: calls to a dead upstream fail quickly with an error status while the proxy keeps serving") {
  std::string address;
  auto proxy_yaml = [&](const std::string& a) { return config(a, ""); };
  std::unique_ptr<GrpcServer> server = std::make_unique<GrpcServer>();
  address = server->address();
  Proxy proxy(proxy_yaml(address));
  INFO(proxy.process().output());
  const std::string target = "127.0.0.1:" + std::to_string(proxy.port("h2c"));
  check_calls(call(target));

  // The server goes away: the pooled connection closes, calls fail (502 from the proxy) without
  // hanging, and the proxy keeps serving.
  server.reset();
  CallResult down = call(target);
  INFO(down.output);
  CHECK(down.exit_code == 1);
  CHECK(has(down.lines, R"("call": "unary", "ok": false)"));
  CHECK_FALSE(has(down.lines, R"("ok": true)"));
  const auto m = scrape(proxy);
  CHECK(metric(m, "rampart_requests_total", {{"route", "grpc"}, {"code_class", "5xx"}}) >= 1);
}

}  // namespace it

namespace it {

// An HTTP health check of a `protocol: h2` pool is an HTTP/2 request. The gRPC server speaks
// nothing but HTTP/2 (a GET / gets 200 with grpc-status in a trailers-only answer), so the same
// check through an HTTP/1.1 pool fails against it, and an h2 check expecting another status
// fails on the status it reads.
TEST_CASE("grpc: HTTP health checks of an h2 pool speak HTTP/2 to the endpoint") {
  GrpcServer server;
  const std::string check = "health_check: {path: /, interval: 100ms, timeout: 1s, jitter: 0, unhealthy_threshold: 1";
  Proxy proxy(config_with(
              "  - {name: grpc, protocol: h2, endpoints: [\"" + server.address() + "\"], " + check + "}}\n"
              "  - {name: plain, endpoints: [\"" + server.address() + "\"], " + check + "}}\n"
              "  - {name: wrong, protocol: h2, endpoints: [\"" + server.address() + "\"], " + check +
              ", expect_status: [204]}}\n"));
  INFO(proxy.process().output());
  const auto healthy = [&](const char* pool) {
    return metric(scrape(proxy), "rampart_upstream_endpoint_healthy", {{"upstream", pool}, {"endpoint", server.address()}});
  };
  const auto settled = [&] {
    const auto m = scrape(proxy);
    const auto checks = [&](const char* pool, const char* result) {
      return metric(m, "rampart_upstream_health_checks_total",
                    {{"upstream", pool}, {"endpoint", server.address()}, {"result", result}});
    };
    return checks("grpc", "passed") >= 3 && checks("plain", "failed") >= 3 && checks("wrong", "failed") >= 3;
  };
  REQUIRE(eventually(settled, 10s));
  CHECK(healthy("grpc") == 1);
  CHECK(healthy("plain") == 0);
  CHECK(healthy("wrong") == 0);
  // And the healthy pool serves calls.
  const CallResult r = call("127.0.0.1:" + std::to_string(proxy.port("h2c")));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(has(r.lines, R"("call": "unary", "ok": true, "size": 1048576, "code": "OK", "trailer": "done")"));
}

}  // namespace it
