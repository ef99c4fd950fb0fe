// Workers write their shards while the admin thread renders and the control thread adds ids.
// Run under -DRAMPART_SANITIZE=ON (ASan/UBSan) and ThreadSanitizer: no reports expected.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>

#include "metrics_support.hpp"
#include "observe/metrics.hpp"

using namespace rampart::observe;
using test::parse_samples;

TEST_CASE("renders during writes see monotonic, consistent values", "[metrics]") {
  Metrics m(2, "test");
  const auto route = m.route_id("s", "hot");
  const auto upstream = m.upstream_id("u");
  const auto endpoint = m.endpoint_id("u", "10.0.0.254:80");
  const auto listener = m.listener_id("main");
  constexpr int kIterations = 20000;
  std::atomic<bool> go{false};

  auto writer = [&](unsigned index) {
    while (!go.load()) std::this_thread::yield();
    WorkerMetrics& w = m.worker(index);
    for (int i = 0; i < kIterations; ++i) {
      w.request(route, MethodClass::get, 200, 0.001 * (i % 50), 1, 2);
      w.upstream_request(upstream, endpoint, 200, 0.002);
      w.upstream_active(upstream, +1);
      w.upstream_active(upstream, -1);
      w.connection_opened(listener);
      w.connection_closed(listener);
    }
  };
  std::thread w0(writer, 0);
  std::thread w1(writer, 1);
  // The control thread keeps adding ids (new storage blocks) while the workers write.
  std::thread control([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 300; ++i) {
      m.route_id("s", "new" + std::to_string(i));
      m.upstream_id("new" + std::to_string(i));
      m.endpoint_id("u", "10.0.0." + std::to_string(i));
    }
  });
  go.store(true);

  const std::string total = R"(rampart_requests_total{server="s",route="hot",method="GET",code_class="2xx"})";
  const std::string count = R"(rampart_request_duration_seconds_count{server="s",route="hot"})";
  const std::string inf = R"(rampart_request_duration_seconds_bucket{server="s",route="hot",le="+Inf"})";
  double last_total = 0;
  int renders = 0;
  for (;;) {  // until a render shows every request (the writers are then done with requests)
    auto s = parse_samples(m.render());
    ++renders;
    double t = s.count(total) ? s.at(total) : 0;
    CHECK(t >= last_total);
    CHECK(t <= 2.0 * kIterations);
    CHECK(s.at(count) == s.at(inf));
    last_total = t;
    if (t == 2.0 * kIterations) break;
  }
  w0.join();
  w1.join();
  control.join();
  auto s = parse_samples(m.render());
  CHECK(s.at(total) == 2 * kIterations);
  CHECK(s.at(count) == 2 * kIterations);
  CHECK(s.at(R"(rampart_received_bytes_total{server="s",route="hot"})") == 2 * kIterations);
  CHECK(s.at(R"(rampart_sent_bytes_total{server="s",route="hot"})") == 4 * kIterations);
  CHECK(s.at(R"(rampart_upstream_requests_total{upstream="u",code_class="2xx"})") == 2 * kIterations);
  CHECK(s.at(R"(rampart_upstream_active_requests{upstream="u"})") == 0);
  CHECK(s.at(R"(rampart_connections_active{listener="main"})") == 0);
  CHECK(s.at(R"(rampart_connections_total{listener="main"})") == 2 * kIterations);
  CHECK(s.at(R"(rampart_upstream_endpoint_requests_total{upstream="u",endpoint="10.0.0.254:80"})") == 2 * kIterations);
  CHECK(s.at(R"(rampart_upstream_retries_total{upstream="new299"})") == 0);
  CHECK(renders >= 1);
}
