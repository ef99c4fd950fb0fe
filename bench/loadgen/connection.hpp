// Opening one connection of a slot: TCP connect (TCP_NODELAY) and, for https, the TLS
// handshake with SNI, ALPN and per-slot session resumption. Counts connections_opened,
// tls_handshakes and tls_resumed, and classifies failures.
#pragma once

#include <optional>
#include <string>

#include "client_env.hpp"

namespace rampart::bench {

// The TCP socket under a TLS stream, with an optional hook called whenever the TLS layer
// starts a real (non-empty) socket read, i.e. when everything already received has been
// decrypted and handed out. The HTTP/2 client uses it to flush its writes once per batch of
// received records instead of once per record.
class hooked_socket {
 public:
  using executor_type = tcp::socket::executor_type;
  using lowest_layer_type = tcp::socket::lowest_layer_type;
  using read_hook = void (*)(void* ctx);

  explicit hooked_socket(const asio::any_io_executor& ex) : sock_(ex) {}

  executor_type get_executor() { return sock_.get_executor(); }
  lowest_layer_type& lowest_layer() { return sock_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return sock_.lowest_layer(); }
  tcp::socket& socket() { return sock_; }

  // `hook(ctx)` runs on the socket's thread before each real read; null: no hook.
  void set_read_hook(read_hook hook, void* ctx) {
    hook_ = hook;
    hook_ctx_ = ctx;
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (hook_ && asio::buffer_size(buffers) > 0) hook_(hook_ctx_);
    return sock_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return sock_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  tcp::socket sock_;
  read_hook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
};

using tls_stream = asio::ssl::stream<hooked_socket>;

// A plain connection.
struct plain_conn {
  explicit plain_conn(const asio::any_io_executor& ex, const run_plan&) : sock(ex) {}
  tcp::socket sock;
  tcp::socket& tcp_socket() { return sock; }
  tcp::socket& stream() { return sock; }
  void close();
};

// A TLS connection; a new SSL object per connection.
struct tls_conn {
  tls_conn(const asio::any_io_executor& ex, const run_plan& plan) : s(ex, *plan.tls) {}
  tls_stream s;
  tcp::socket& tcp_socket() { return s.next_layer().socket(); }
  tls_stream& stream() { return s; }
  // Closes the socket without close_notify, keeping the session resumable.
  void close();
};

enum class open_result { ok, failed, stopped };

// Connects `conn` for slot `s`, registering its socket in the slot for the sweeper. On
// failure the error is counted (see note_failure) and the socket closed. With `want_h2`,
// a server that does not select "h2" is a protocol failure.
asio::awaitable<open_result> open_connection(client_env& env, slot& s, plain_conn& conn);
asio::awaitable<open_result> open_connection(client_env& env, slot& s, tls_conn& conn, bool want_h2 = false);

// Ends a connection: unregisters it from the slot and closes it.
template <class Conn>
void release_connection(slot& s, Conn& conn) {
  if (s.socket == &conn.tcp_socket()) s.socket = nullptr;
  conn.close();
}

// The failure class of an I/O error on an established connection.
failure classify_io_error(const boost::system::error_code& ec);

}  // namespace rampart::bench
