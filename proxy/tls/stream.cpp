#include "tls/stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>

namespace rampart::tls {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRecord = 16 * 1024;          // largest TLS record payload
constexpr std::size_t kCoalesce = 2 * 1024;         // smaller pieces are staged into full records
constexpr std::size_t kReadBlock = 16 * 1024 + 1024;  // a full record and its framing

// Makes room for `n` more bytes at the end of `b`.
void ensure_space(core::FlatBuffer& b, std::size_t n) {
  if (b.write_space() >= n) return;
  b.compact();
  if (b.write_space() >= n) return;
  b.reserve(std::max({b.capacity() * 2, b.size() + n, kReadBlock}));
}

}  // namespace

BIO_METHOD* Stream::bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rampart-tls");
    BIO_meth_set_write(m, &Stream::bio_write);
    BIO_meth_set_read(m, &Stream::bio_read);
    BIO_meth_set_ctrl(m, &Stream::bio_ctrl);
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

Stream::Stream(asio::ip::tcp::socket& socket, SSL* ssl, core::BlockPool* blocks, Role role)
    : socket_(socket),
      ssl_(ssl),
      in_(blocks),
      out_(blocks),
      wire_(blocks),
      stage_(blocks),
      flushed_(socket.get_executor()) {
  BIO* bio = BIO_new(bio_method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL from here
  if (role == Role::client) SSL_set_connect_state(ssl_);
  else SSL_set_accept_state(ssl_);
}

Stream::~Stream() {
  // The connection ends without a close_notify exchange; without a (quiet) shutdown, OpenSSL
  // would treat the session as broken and drop it from the session cache.
  SSL_set_quiet_shutdown(ssl_, 1);
  SSL_shutdown(ssl_);
  SSL_free(ssl_);
}

int Stream::bio_write(BIO* bio, const char* data, int len) {
  auto* self = static_cast<Stream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  ensure_space(self->out_, static_cast<std::size_t>(len));
  std::memcpy(self->out_.write_ptr(), data, static_cast<std::size_t>(len));
  self->out_.commit(static_cast<std::size_t>(len));
  return len;
}

int Stream::bio_read(BIO* bio, char* data, int len) {
  auto* self = static_cast<Stream*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self->in_.empty()) {
    BIO_set_retry_read(bio);  // "would block": SSL_ERROR_WANT_READ, and fill() reads the socket
    return -1;
  }
  const std::size_t n = std::min(self->in_.size(), static_cast<std::size_t>(len));
  std::memcpy(data, self->in_.data().data(), n);
  self->in_.consume(n);
  return static_cast<int>(n);
}

long Stream::bio_ctrl(BIO* bio, int cmd, long, void*) {
  auto* self = static_cast<Stream*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;  // flush() sends out_; nothing to do inside OpenSSL's call
    case BIO_CTRL_PENDING: return static_cast<long>(self->in_.size());
    case BIO_CTRL_WPENDING: return static_cast<long>(self->out_.size());
    default: return 0;
  }
}

error_code Stream::ssl_error(int ret) {
  const int e = SSL_get_error(ssl_, ret);
  if (e == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return asio::error::eof;  // SSL_ERROR_SYSCALL without an error: the peer went away
  return error_code(static_cast<int>(err), asio::error::get_ssl_category());
}

// OpenSSL's error queue is per thread, and other connections of this worker run while a coroutine
// waits: every outcome is read from it before the next co_await.
asio::awaitable<error_code> Stream::handshake() {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    bool want_read = false;
    error_code failure;
    if (r != 1) {
      if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) want_read = true;
      else failure = ssl_error(r);
    }
    // Whatever it produced goes out first: the server's flight, tickets, or the alert of a failure.
    if (!out_.empty()) {
      const auto ec = co_await flush();
      if (ec && r == 1) co_return ec;
    }
    if (r == 1) {
      in_.release_if_empty();
      co_return error_code{};
    }
    if (!want_read) co_return failure;
    if (auto ec = co_await fill()) co_return ec;
  }
}

asio::awaitable<std::tuple<error_code, std::size_t>> Stream::read_some(asio::mutable_buffer b) {
  for (;;) {
    ERR_clear_error();
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, b.data(), b.size(), &got);
    const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    const error_code failure = r == 1 || e == SSL_ERROR_WANT_READ ? error_code{} : ssl_error(r);
    // Post-handshake messages may make OpenSSL answer (key updates); send that unless a write is
    // already sending (it takes what is in out_ along).
    if (!out_.empty() && !flushing_) {
      if (auto ec = co_await flush()) co_return std::tuple{ec, std::size_t{0}};
    }
    if (r == 1) co_return std::tuple{error_code{}, got};
    if (e != SSL_ERROR_WANT_READ) co_return std::tuple{failure, std::size_t{0}};
    if (auto ec = co_await fill()) co_return std::tuple{ec, std::size_t{0}};
  }
}

asio::awaitable<error_code> Stream::fill() {
  ensure_space(in_, 4096);
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_.write_ptr(), in_.write_space()), nothrow);
  if (ec) {
    in_.release_if_empty();
    co_return ec;
  }
  in_.commit(n);
  co_return error_code{};
}

bool Stream::stage(asio::const_buffer b) {
  if (b.size() >= kCoalesce) return seal() && encrypt(b.data(), b.size());
  if (stage_.size() + b.size() > kRecord && !seal()) return false;
  ensure_space(stage_, b.size());
  std::memcpy(stage_.write_ptr(), b.data(), b.size());
  stage_.commit(b.size());
  return true;
}

bool Stream::seal() {
  if (stage_.empty()) return true;
  const bool ok = encrypt(stage_.data().data(), stage_.size());
  stage_.consume(stage_.size());
  stage_.release_if_empty();
  return ok;
}

bool Stream::encrypt(const void* data, std::size_t size) {
  ERR_clear_error();
  std::size_t written = 0;
  const int r = SSL_write_ex(ssl_, data, size, &written);  // the BIO never blocks: all or an error
  if (r != 1 || written != size) {
    error_ = ssl_error(r);
    return false;
  }
  return true;
}

asio::awaitable<error_code> Stream::flush() {
  // One socket write at a time, in order: a second flusher waits for the first, whose loop also
  // sends what was added meanwhile.
  while (flushing_) {
    flushed_.expires_at(asio::steady_timer::time_point::max());
    co_await flushed_.async_wait(nothrow);
  }
  if (out_.empty()) co_return error_;
  error_code result;
  flushing_ = true;
  while (!out_.empty()) {
    wire_.swap(out_);  // new records go to out_ while wire_ is on its way
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(wire_.data().data(), wire_.size()), nothrow);
    wire_.consume(wire_.size());
    wire_.release_if_empty();
    if (ec) {
      result = ec;
      error_ = ec;
      break;
    }
  }
  out_.release_if_empty();
  flushing_ = false;
  flushed_.cancel();
  co_return result ? result : error_;
}

bool Stream::idle() const {
  return in_.empty() && out_.empty() && wire_.empty() && stage_.empty() && !flushing_ && SSL_has_pending(ssl_) == 0;
}

void Stream::release_buffers() {
  in_.release_if_empty();
  out_.release_if_empty();
  wire_.release_if_empty();
  stage_.release_if_empty();
}

}  // namespace rampart::tls
