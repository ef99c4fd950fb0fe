// rampart-bench: the project's HTTP load generator (HTTP/1.1, HTTPS, HTTP/2 over TLS; closed
// or open loop). See bench/README.md for the options and the JSON it prints.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client_env.hpp"
#include "options.hpp"
#include "probe.hpp"
#include "request_template.hpp"
#include "results.hpp"
#include "tls.hpp"
#include "worker.hpp"

namespace {

// Lets the process hold as many sockets as the hard limit allows (thousands of connections).
void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::string seconds_text(std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rampart::bench;

  options opts;
  std::string error;
  if (!parse_options(argc, argv, opts, error)) {
    std::fprintf(stderr, "rampart-bench: %s\n%s", error.c_str(), usage_text);
    return 2;
  }
  if (opts.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  run_plan plan;
  plan.opts = &opts;
  plan.request = build_request(opts);
  std::unique_ptr<asio::ssl::context> tls;
  if (opts.target.tls()) {
    try {
      tls = make_client_tls(opts.h2, opts.session_reuse);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rampart-bench: cannot create the TLS context: %s\n", e.what());
      return 1;
    }
    plan.tls = tls.get();
    plan.sni = sni_name(plan.request);
  }
  if (!probe_target(plan, error)) {
    std::fprintf(stderr, "rampart-bench: %s\n", error.c_str());
    return 1;
  }

  if (!opts.json && !opts.quiet) {
    std::printf("Running %s test @ %s (warm-up %s)\n", seconds_text(opts.duration_ns).c_str(), opts.url_text.c_str(),
                seconds_text(opts.warmup_ns).c_str());
    std::fflush(stdout);
  }

  plan.start_ns = now_ns();
  plan.measure_ns = plan.start_ns + opts.warmup_ns;
  plan.end_ns = plan.measure_ns + opts.duration_ns;

  std::vector<std::unique_ptr<worker>> workers;
  for (std::size_t t = 0; t < opts.threads; ++t) {
    std::vector<std::size_t> indices;
    for (std::size_t i = t; i < opts.connections; i += opts.threads) indices.push_back(i);
    workers.push_back(std::make_unique<worker>(plan, indices));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();

  run_summary summary;
  summary.opts = &opts;
  summary.duration_s = static_cast<double>(opts.duration_ns) / 1e9;
  for (const auto& w : workers) summary.totals.merge(w->result());
  workers.clear();

  const std::string out = opts.json ? format_json(summary) : format_table(summary);
  std::fputs(out.c_str(), stdout);
  return 0;
}
