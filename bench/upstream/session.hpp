// One downstream connection of rampart-upstream: reads requests (pipelined or not), acts on
// their query parameters and writes the responses. Lives in the coroutine frame of serve().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio.hpp>

#include "request_head.hpp"
#include "response_cache.hpp"
#include "response_plan.hpp"
#include "server_context.hpp"

namespace rampart::upstream {

// Serves `socket` until the peer closes or a response ends the connection. Runs on the worker
// that accepted the socket; `ctx`, `counters` and `cache` must outlive the coroutine.
boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, server_context& ctx,
                                   worker_counters& counters, response_cache& cache);

class session {
 public:
  session(boost::asio::ip::tcp::socket socket, server_context& ctx, worker_counters& counters,
          response_cache& cache);

  boost::asio::awaitable<void> run();

 private:
  enum class body_status { ok, closed, malformed };
  enum class endpoint { plain, echo, stats, reset_stats };

  // Where a response body comes from: the filler of ctx_ (dyn == nullptr) or a string.
  struct body_source {
    const std::string* dyn = nullptr;
    std::uint64_t size = 0;
  };

  // Handles the request whose head (head_, `head_bytes` long) is at the start of the input.
  // Returns false when the connection must end.
  boost::asio::awaitable<bool> serve_request(std::size_t head_bytes);

  // Reads and discards the request body, counting it (and its CRC-32 when `want_crc`).
  boost::asio::awaitable<body_status> read_body(bool want_crc, std::uint64_t& bytes,
                                                std::uint32_t& crc);
  // Writes `size` bytes of `src`, chunked in pieces of `chunk` bytes when `chunked`.
  boost::asio::awaitable<bool> send_body(const body_source& src, bool chunked,
                                         std::uint64_t chunk, std::string_view trailers = {});
  boost::asio::awaitable<bool> send_range(const body_source& src, std::uint64_t offset,
                                          std::uint64_t len);
  // Raw byte echo after a 101 response, until the peer closes.
  boost::asio::awaitable<void> tunnel_echo();

  // Makes room and reads more input. False on EOF, error, or when the buffer is full.
  boost::asio::awaitable<bool> fill();
  // Writes the pending output out_ followed by `extra`; clears out_. False on error.
  boost::asio::awaitable<bool> write_out_and(boost::asio::const_buffer extra);
  boost::asio::awaitable<bool> flush() { return write_out_and({}); }
  boost::asio::awaitable<void> wait_ms(std::uint64_t ms);
  // Flushes, half-closes, and drains input for up to a second so the peer reads everything
  // before the close (an unread receive queue would turn the close into a reset).
  boost::asio::awaitable<void> close_gracefully();
  boost::asio::awaitable<void> drain_input();
  // Answers with `status` and a one-line text body, then closes.
  boost::asio::awaitable<void> fail_and_close(unsigned status, std::string_view why);

  void begin_echo_json(endpoint ep);
  void finish_echo_json(std::uint64_t body_bytes, std::uint32_t crc);
  void build_stats_json(bool reset);
  void append_malformed(malformed_kind kind);
  boost::asio::const_buffer slice(const body_source& src, std::uint64_t offset,
                                  std::uint64_t len) const;

  std::string_view input() const { return {in_.get() + in_begin_, in_end_ - in_begin_}; }

  static constexpr std::size_t in_capacity = 64 * 1024;

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  server_context& ctx_;
  worker_counters& counters_;
  response_cache& cache_;

  std::unique_ptr<char[]> in_;  // in_capacity bytes; unread input is [in_begin_, in_end_)
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::string out_;            // response bytes not yet written (coalesced across pipelining)
  std::string dyn_;            // dynamic body (/echo, /stats, errors)
  std::string json_;           // json=N body, kept for the next request of the same size
  std::uint64_t json_size_ = ~std::uint64_t{0};
  std::string extra_headers_;  // from header= parameters
  std::string error_;
  std::string peer_;
  request_head head_;
  std::uint64_t requests_ = 0;  // on this connection
};

}  // namespace rampart::upstream
