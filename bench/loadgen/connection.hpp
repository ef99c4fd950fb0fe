// Opening one connection of a slot: TCP connect (TCP_NODELAY) and, for https, the TLS
// handshake with SNI, ALPN and per-slot session resumption. Counts connections_opened,
// tls_handshakes and tls_resumed, and classifies failures.
#pragma once

#include <optional>
#include <string>

#include "client_env.hpp"

namespace rampart::bench {

using tls_stream = asio::ssl::stream<tcp::socket>;

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
  tcp::socket& tcp_socket() { return s.next_layer(); }
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
