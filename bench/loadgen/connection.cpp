#include "connection.hpp"

namespace rampart::bench {

void plain_conn::close() {
  boost::system::error_code ignored;
  sock.close(ignored);
}

void tls_conn::close() {
  mark_shutdown(s.native_handle());
  boost::system::error_code ignored;
  s.next_layer().socket().close(ignored);
}

asio::awaitable<bool> wait_until(client_env& env, slot& s, asio::steady_timer& timer, std::int64_t due_ns) {
  if (env.stopping) co_return false;
  if (now_ns() >= due_ns) co_return true;
  timer.expires_at(to_time_point(due_ns));
  s.waiter = &timer;
  co_await timer.async_wait(use_nothrow);
  s.waiter = nullptr;
  co_return !env.stopping;
}

failure classify_io_error(const boost::system::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category() && ec != asio::ssl::error::stream_truncated)
    return failure::tls;
  return failure::reset;
}

namespace {

// TCP part, shared by both kinds. Returns false on failure (counted).
asio::awaitable<bool> connect_tcp(client_env& env, slot& s, tcp::socket& sock) {
  s.connect_started = now_ns();
  s.socket = &sock;
  auto [ec] = co_await sock.async_connect(env.plan.endpoint, use_nothrow);
  if (ec) {
    s.connect_started = 0;
    s.socket = nullptr;
    note_failure(env, s, failure::connect);
    boost::system::error_code ignored;
    sock.close(ignored);
    co_return false;
  }
  ++env.stats.c.connections_opened;
  boost::system::error_code ignored;
  sock.set_option(tcp::no_delay(true), ignored);
  co_return true;
}

}  // namespace

asio::awaitable<open_result> open_connection(client_env& env, slot& s, plain_conn& conn) {
  if (env.stopping) co_return open_result::stopped;
  const bool ok = co_await connect_tcp(env, s, conn.sock);
  s.connect_started = 0;
  if (ok) {
    boost::system::error_code ignored;
    conn.sock.non_blocking(true, ignored);  // lets the client try writes synchronously
  }
  if (env.stopping) co_return open_result::stopped;
  co_return ok ? open_result::ok : open_result::failed;
}

asio::awaitable<open_result> open_connection(client_env& env, slot& s, tls_conn& conn, bool want_h2) {
  if (env.stopping) co_return open_result::stopped;
  const bool reuse = env.plan.opts->session_reuse;
  if (!prepare_ssl(conn.s.native_handle(), env.plan.sni, reuse ? &s.session : nullptr)) {
    note_failure(env, s, failure::tls);
    co_return open_result::failed;
  }
  if (!co_await connect_tcp(env, s, conn.tcp_socket())) {
    co_return env.stopping ? open_result::stopped : open_result::failed;
  }
  auto [ec] = co_await conn.s.async_handshake(asio::ssl::stream_base::client, use_nothrow);
  s.connect_started = 0;
  if (env.stopping) {
    release_connection(s, conn);
    co_return open_result::stopped;
  }
  if (ec) {
    note_failure(env, s, failure::tls);
    release_connection(s, conn);
    co_return open_result::failed;
  }
  ++env.stats.c.tls_handshakes;
  if (SSL_session_reused(conn.s.native_handle())) ++env.stats.c.tls_resumed;
  if (want_h2 && alpn_selected(conn.s.native_handle()) != "h2") {
    note_failure(env, s, failure::protocol);
    release_connection(s, conn);
    co_return open_result::failed;
  }
  co_return open_result::ok;
}

}  // namespace rampart::bench
