#include <catch2/catch.hpp>

#include <string>

#include "results.hpp"

using namespace rampart::bench;

TEST_CASE("JSON output carries every contract key and the computed rates") {
  options o;
  std::string err;
  const char* argv[] = {"rampart-bench", "-c", "4", "-R", "100", "https://h:1/x\"y"};
  REQUIRE(parse_options(6, argv, o, err));
  run_summary s;
  s.opts = &o;
  s.duration_s = 2.0;
  s.totals.on_response(200, 1'000'000);
  s.totals.on_response(503, 3'000'000);
  s.totals.c.bytes_received = 2 * 1048576;
  s.totals.c.resets = 7;
  s.totals.c.tls_handshakes = 4;
  s.totals.c.tls_resumed = 3;
  const std::string j = format_json(s);
  CHECK(j.find("\"url\":\"https://h:1/x\\\"y\"") != std::string::npos);
  CHECK(j.find("\"protocol\":\"http/1.1\"") != std::string::npos);
  CHECK(j.find("\"tls\":true") != std::string::npos);
  CHECK(j.find("\"mode\":\"open\"") != std::string::npos);
  CHECK(j.find("\"rate\":100.000") != std::string::npos);
  CHECK(j.find("\"requests\":2,") != std::string::npos);
  CHECK(j.find("\"rps\":1.000") != std::string::npos);
  CHECK(j.find("\"mib_per_s\":1.000") != std::string::npos);
  CHECK(j.find("\"min\":1000.000") != std::string::npos);
  CHECK(j.find("\"max\":3000.000") != std::string::npos);
  CHECK(j.find("\"status\":{\"1xx\":0,\"2xx\":1,\"3xx\":0,\"4xx\":0,\"5xx\":1}") != std::string::npos);
  CHECK(j.find("\"errors\":{\"connect\":0,\"timeout\":0,\"reset\":7,\"protocol\":0,\"tls\":0}") != std::string::npos);
  CHECK(j.find("\"tls_resumed\":3}") != std::string::npos);
  for (const char* key : {"connections", "streams", "threads", "duration_s", "bytes_received", "latency_us", "mean",
                          "p50", "p90", "p99", "p999", "connections_opened", "tls_handshakes"})
    CHECK(j.find(std::string("\"").append(key).append("\":")) != std::string::npos);

  const char* argv2[] = {"rampart-bench", "http://h/"};
  REQUIRE(parse_options(2, argv2, o, err));
  CHECK(format_json(s).find("\"rate\":null") != std::string::npos);
  CHECK(format_table(s).find("Requests/sec:") != std::string::npos);
}

TEST_CASE("counters merge adds every field") {
  counters a, b;
  a.requests = 1;
  a.status[1] = 1;
  a.tls_resumed = 2;
  b.requests = 2;
  b.status[1] = 3;
  b.timeouts = 5;
  b.tls_resumed = 1;
  a.merge(b);
  CHECK(a.requests == 3);
  CHECK(a.status[1] == 4);
  CHECK(a.timeouts == 5);
  CHECK(a.tls_resumed == 3);
}

TEST_CASE("format_us picks a unit") {
  CHECK(format_us(12.5) == "12.50us");
  CHECK(format_us(1500) == "1.50ms");
  CHECK(format_us(2'500'000) == "2.50s");
}
