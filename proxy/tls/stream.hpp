// A TLS connection on a TCP socket, lean enough for idle keep-alive connections: the server side
// of TLS listeners, and the client side of connections to TLS upstreams (same I/O, only the
// handshake's role differs).
//
// OpenSSL reads and writes ciphertext through a BIO of ours over two pooled buffers (the worker's
// BlockPool): no BIO pair, no second copy, and both buffers go back to the pool whenever they
// are empty, so an idle connection holds only the SSL object (with SSL_MODE_RELEASE_BUFFERS,
// OpenSSL drops its record buffers too). idle() says when nothing is buffered at any layer, so a
// readiness wait on the socket may stand in for a read (parking).
//
// One thread (the worker's). Reads and writes may be in flight at the same time (tunnels):
// ciphertext goes out in order, one socket write at a time.
#pragma once
#include "core/buffer.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <openssl/ssl.h>

#include <cstddef>
#include <tuple>

namespace rampart::tls {

class Stream {
 public:
  enum class Role : bool { server, client };
  // Takes ownership of `ssl` (a server SSL from ServerContext::new_ssl, or a client SSL from
  // ClientContext::new_ssl with Role::client). `socket` and `blocks` must outlive the stream.
  Stream(boost::asio::ip::tcp::socket& socket, SSL* ssl, core::BlockPool* blocks, Role role = Role::server);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  SSL* native_handle() const { return ssl_; }

  // The handshake (server or client, by role). An error is the socket's, or an SSL-category error whose value is
  // OpenSSL's error code (tls::classify_failure reads it).
  boost::asio::awaitable<boost::system::error_code> handshake();
  // Some plaintext (at least one byte), or an error (eof after the peer's close_notify or TCP FIN).
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(boost::asio::mutable_buffer b);
  // All of the buffers, encrypted and sent. Small pieces are coalesced into full records.
  template <class ConstBuffers>
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(const ConstBuffers& buffers) {
    std::size_t total = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (!stage(b)) co_return std::tuple{error_, total};
      total += b.size();
    }
    if (!seal()) co_return std::tuple{error_, std::size_t{0}};
    auto ec = co_await flush();
    co_return std::tuple{ec, ec ? std::size_t{0} : total};
  }

  // Nothing buffered anywhere (ciphertext in, plaintext in OpenSSL, ciphertext out): the next
  // bytes of the connection are still in the socket.
  bool idle() const;
  // Gives empty buffers back to the pool (call when the connection goes idle).
  void release_buffers();

 private:
  static int bio_write(BIO* bio, const char* data, int len);
  static int bio_read(BIO* bio, char* data, int len);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static BIO_METHOD* bio_method();

  // Plaintext to records: small pieces wait in stage_ until a record's worth (or the end).
  bool stage(boost::asio::const_buffer b);
  bool seal();                      // encrypts whatever stage_ holds
  bool encrypt(const void* data, std::size_t size);
  boost::asio::awaitable<boost::system::error_code> flush();  // out_ to the socket, in order
  boost::asio::awaitable<boost::system::error_code> fill();   // more ciphertext into in_
  boost::system::error_code ssl_error(int ret);               // after a failed SSL call

  boost::asio::ip::tcp::socket& socket_;
  SSL* ssl_;
  core::FlatBuffer in_;     // ciphertext read, not yet consumed by OpenSSL
  core::FlatBuffer out_;    // ciphertext produced, not yet handed to the socket
  core::FlatBuffer wire_;   // ciphertext being written to the socket
  core::FlatBuffer stage_;  // plaintext waiting to fill a record
  bool flushing_ = false;
  boost::asio::steady_timer flushed_;  // wakes a writer waiting for another flush to end
  boost::system::error_code error_;
};

}  // namespace rampart::tls
