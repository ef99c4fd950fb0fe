// A worker: one thread, one io_context, its own SO_REUSEPORT acceptor per listener, its own
// upstream connection pool, and the sessions it accepted. Nothing here is shared with other
// workers except the immutable snapshot; the control thread talks to a worker only by posting.
#pragma once
#include "server/h2_upstream.hpp"
#include "server/generation.hpp"
#include "server/log.hpp"
#include "server/scratch.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <list>
#include <memory>
#include "core/block_pool.hpp"
#include <string>
#include <thread>
#include <vector>

namespace rampart::server {

class Session;

class Worker {
 public:
  // `metrics` and `access_log` (null when off) outlive the worker.
  Worker(unsigned id, std::shared_ptr<const snapshot::Snapshot> snap, std::uint64_t seed,
         observe::WorkerMetrics& metrics, observe::AccessLogShard* access_log, Log& log);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();

  // --- Control thread. Each posts to the worker; safe to call while it runs. -------------------
  void start();
  void join();
  // Takes ownership of a bound, listening socket (fd) for `listener`.
  void add_listener(const std::string& listener, int fd);
  void remove_listener(const std::string& listener);
  void set_snapshot(std::shared_ptr<const snapshot::Snapshot> snap, observe::AccessLogShard* access_log);
  // Stops accepting, closes idle connections, lets exchanges in flight finish until `deadline`,
  // then closes what is left. The thread ends once no session remains.
  void drain(upstream::Clock::time_point deadline);

  // --- Worker thread only. --------------------------------------------------------------------
  boost::asio::io_context& context() { return ioc_; }
  core::BlockPool& blocks() { return blocks_; }
  ScratchPool& scratch() { return scratch_; }
  EncoderPool& encoders() { return encoders_; }
  http::WholeGzip& whole_gzip() { return whole_gzip_; }
  GenerationRef generation() const { return gen_; }
  upstream::Pool& pool() { return pool_; }
  UpstreamH2Pool& h2_pool() { return h2_pool_; }
  bool draining() const { return draining_; }
  // 32 lower-case hex digits (128 random bits) into `out`.
  void new_request_id(std::string& out);
  // True with probability `rate` (access-log sampling).
  bool sample(double rate);
  observe::WorkerMetrics& metrics() { return metrics_; }

  // Requests this worker has in flight to an upstream, and how many of them are retrying (the
  // retry budget's view), by upstream metrics id (stable across reloads).
  struct UpstreamLoad {
    std::int64_t active = 0;
    std::int64_t retrying = 0;
  };
  // (set_snapshot sizes the table for every upstream of the snapshot; the reference is valid
  // until the next set_snapshot.)
  UpstreamLoad& upstream_load(std::uint32_t upstream_id) {
    if (upstream_id >= loads_.size()) [[unlikely]] loads_.resize(upstream_id + 1);
    return loads_[upstream_id];
  }
  Log& log() { return log_; }

  // Session bookkeeping (the ticker enforces their deadlines).
  std::list<Session*>::iterator enlist(Session* s) { return sessions_.insert(sessions_.end(), s); }
  void delist(std::list<Session*>::iterator it) { sessions_.erase(it); }

 private:
  struct Listener {
    std::string name;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
  };
  boost::asio::awaitable<void> accept_loop(std::shared_ptr<Listener> l);
  void close_listener(Listener& l);
  void start_session(const Listener& l, int fd);
  // `peer`: the client's address as accept returned it (null: asked of the socket).
  void start_session(const Listener& l, boost::asio::ip::tcp::socket socket,
                     const boost::asio::ip::tcp::endpoint* peer = nullptr);
  boost::asio::awaitable<void> ticker();
  void report_idle_connections();
  std::vector<std::size_t> idle_reported_;  // by upstream metrics id
  std::vector<UpstreamLoad> loads_;          // by upstream metrics id

  unsigned id_;
  // Declared before ioc_: sessions destroyed with the io_context still give blocks and scratch
  // back and delist themselves.
  core::BlockPool blocks_;
  ScratchPool scratch_;
  EncoderPool encoders_;
  http::WholeGzip whole_gzip_;
  std::list<Session*> sessions_;
  // Only this worker's thread does I/O on its sockets, so the reactor needs no per-socket locks;
  // the scheduler keeps its lock because the control thread posts to it.
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  UpstreamH2Pool h2_pool_{ioc_};  // after ioc_: its connections close while the context lives
  std::thread thread_;
  GenerationRef gen_;
  upstream::Pool pool_;
  std::list<std::shared_ptr<Listener>> listeners_;
  bool draining_ = false;
  upstream::Clock::time_point drain_deadline_{};
  std::uint64_t rng_state_;  // splitmix64: request ids need to be unique, not secret
  std::uint64_t next_random();
  observe::WorkerMetrics& metrics_;
  Log& log_;
};

}  // namespace rampart::server
