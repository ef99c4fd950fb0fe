#include "h1_client.hpp"

#include <memory>
#include <optional>
#include <type_traits>

#include "connection.hpp"
#include "response_reader.hpp"

namespace rampart::bench {

namespace {

constexpr std::size_t in_capacity = 64 * 1024;
constexpr std::int64_t reconnect_backoff_ns = 1'000'000;  // after a failed connect

enum class read_outcome { ok, reset, protocol, tls };

// Reads one response into `reader` (already start()ed). Bytes after the response are a
// protocol error (no pipelining, so nothing may follow it).
template <class Stream>
asio::awaitable<read_outcome> read_response(Stream& stream, char* buf, response_reader& reader) {
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf, in_capacity), use_nothrow);
    if (n > 0) {
      std::size_t used = 0;
      const auto r = reader.feed(buf, n, used);
      if (r == response_reader::result::complete) co_return used == n ? read_outcome::ok : read_outcome::protocol;
      if (r == response_reader::result::error) co_return read_outcome::protocol;
    }
    if (ec) {
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        co_return reader.on_eof() == response_reader::result::complete ? read_outcome::ok : read_outcome::reset;
      co_return classify_io_error(ec) == failure::tls ? read_outcome::tls : read_outcome::reset;
    }
  }
}

failure to_failure(read_outcome o) {
  switch (o) {
    case read_outcome::protocol: return failure::protocol;
    case read_outcome::tls: return failure::tls;
    default: return failure::reset;
  }
}

asio::awaitable<open_result> open(client_env& env, slot& s, plain_conn& c) { return open_connection(env, s, c); }
asio::awaitable<open_result> open(client_env& env, slot& s, tls_conn& c) { return open_connection(env, s, c, false); }

template <class Conn>
asio::awaitable<void> run_h1(client_env& env, slot& s) {
  const auto ex = co_await asio::this_coro::executor;
  const run_plan& plan = env.plan;
  const options& opts = *plan.opts;
  const bool open_loop = opts.open_loop();
  asio::steady_timer timer(ex);
  const std::unique_ptr<char[]> in(new char[in_capacity]);
  response_reader reader;
  const auto request = asio::buffer(plan.request.h1);

  while (!env.stopping) {
    std::int64_t due = 0;
    if (open_loop && opts.new_conn) {
      due = s.pace.take();
      if (!co_await wait_until(env, s, timer, due)) break;
    }
    const std::int64_t connect_start = now_ns();
    std::optional<Conn> conn;
    conn.emplace(ex, plan);
    const open_result opened = co_await open(env, s, *conn);
    if (opened == open_result::stopped) break;
    if (opened == open_result::failed) {
      if (!co_await wait_until(env, s, timer, now_ns() + reconnect_backoff_ns)) break;
      continue;
    }
    for (bool first = true; !env.stopping; first = false) {
      if (open_loop && !(opts.new_conn && first)) {
        due = s.pace.take();
        if (!co_await wait_until(env, s, timer, due)) break;
      }
      const std::int64_t sent = now_ns();
      const std::int64_t start = open_loop ? due : (opts.new_conn ? connect_start : sent);
      s.inflight[0] = sent;
      boost::system::error_code wec;
      std::size_t written = 0;
      if constexpr (std::is_same_v<Conn, plain_conn>) {
        // Plain TCP: try the write at once (non-blocking socket), skipping a scheduler trip.
        written = conn->sock.write_some(request, wec);
        if (wec == asio::error::would_block || wec == asio::error::try_again) wec.clear();
      }
      if (!wec && written < request.size()) {
        auto [ec, n] = co_await asio::async_write(conn->stream(), request + written, use_nothrow);
        wec = ec;
      }
      if (wec) {
        s.inflight[0] = 0;
        note_failure(env, s, classify_io_error(wec));
        break;
      }
      reader.start(plan.request.head);
      const read_outcome outcome = co_await read_response(conn->stream(), in.get(), reader);
      s.inflight[0] = 0;
      if (outcome != read_outcome::ok) {
        note_failure(env, s, to_failure(outcome));
        break;
      }
      if (s.timed_out) {  // completed in the same loop turn as the sweeper's close
        s.timed_out = false;
        break;
      }
      env.stats.c.bytes_received += reader.bytes();
      env.stats.on_response(reader.status(), now_ns() - start);
      if (!reader.keep_alive() || opts.new_conn) break;
    }
    release_connection(s, *conn);
  }
}

}  // namespace

asio::awaitable<void> run_h1_plain(client_env& env, slot& s) { return run_h1<plain_conn>(env, s); }
asio::awaitable<void> run_h1_tls(client_env& env, slot& s) { return run_h1<tls_conn>(env, s); }

}  // namespace rampart::bench
