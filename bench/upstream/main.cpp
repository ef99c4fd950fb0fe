// rampart-upstream: the fast HTTP/1.1 origin used by the demo, the integration tests and the
// benchmarks. See bench/README.md for what each query parameter does.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "options.hpp"
#include "server_context.hpp"
#include "worker.hpp"

int main(int argc, char** argv) {
  using namespace rampart::upstream;

  options opts;
  std::string error;
  if (!parse_options(argc, argv, opts, error)) {
    std::fprintf(stderr, "rampart-upstream: %s\n%s", error.c_str(), usage_text);
    return 2;
  }
  if (opts.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }

  // Block the stop signals in every thread (workers inherit the mask); main waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (opts.listen.empty()) opts.listen.emplace_back(boost::asio::ip::make_address("127.0.0.1"), 0);
  server_context ctx(opts.name, opts.body_size, opts.threads);
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<boost::asio::ip::tcp::endpoint> bound = opts.listen;
  std::size_t address = 0;
  try {
    for (std::size_t i = 0; i < opts.threads; ++i) workers.push_back(std::make_unique<worker>(ctx, i));
    for (; address < bound.size(); ++address) {
      // The first worker's bind resolves port 0; the others share that port through SO_REUSEPORT.
      for (auto& w : workers) bound[address] = w->listen(bound[address]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rampart-upstream: cannot listen on %s: %s\n",
                 format_endpoint(opts.listen[address]).c_str(), e.what());
    return 1;
  }

  for (const auto& ep : bound) std::printf("listening %s\n", format_endpoint(ep).c_str());
  std::fflush(stdout);

  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  for (auto& w : workers) w->stop();
  for (auto& t : threads) t.join();
  return 0;
}
