// One admin connection: read a request head (strict parser), discard any body, answer, repeat
// while keep-alive holds. Every wait has a deadline: the connection's timer closes the socket
// when it passes, which ends the pending read or write with an error.
#include "admin/routes.hpp"
#include "admin/server_impl.hpp"
#include "http/parser.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>

namespace rampart::admin {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr std::uint64_t kMaxBody = 1024 * 1024;            // a reload request needs none
constexpr std::size_t kLingerBytes = 64 * 1024;            // read-and-drop budget before close
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Sets the connection's deadline `d` from now; the previous one no longer applies.
void arm(const std::shared_ptr<Connection>& c, std::chrono::milliseconds d) {
  const std::uint64_t seq = ++c->deadline_seq;
  c->timer.expires_after(d);
  c->timer.async_wait([w = std::weak_ptr<Connection>(c), seq](const boost::system::error_code& ec) {
    if (ec) return;
    auto conn = w.lock();
    if (!conn || conn->deadline_seq != seq) return;  // re-armed after this expiry was queued
    boost::system::error_code ignored;
    conn->socket.close(ignored);
  });
}

// Appends what the peer sends next to `in`. False on EOF, error, deadline or stop.
awaitable<bool> read_more(Connection& c, std::string& in) {
  const std::size_t old = in.size();
  in.resize(old + kReadChunk);
  auto [ec, n] = co_await c.socket.async_read_some(asio::buffer(in.data() + old, kReadChunk), nothrow);
  in.resize(old + (ec ? 0 : n));
  co_return !ec;
}

awaitable<bool> write_all(Connection& c, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(c.socket, asio::buffer(bytes.data(), bytes.size()), nothrow);
  co_return !ec;
}

// After a response with "Connection: close": half-close, then read and drop what the client still
// sends (bounded in bytes and time) so that closing does not reset the connection and destroy the
// response before the client read it.
awaitable<void> linger_close(std::shared_ptr<Connection> c, std::chrono::milliseconds limit) {
  boost::system::error_code ec;
  c->socket.shutdown(tcp::socket::shutdown_send, ec);
  arm(c, std::min(limit, kLingerTime));
  std::string sink;
  for (std::size_t total = 0; total < kLingerBytes && !ec;) {
    sink.clear();
    if (!co_await read_more(*c, sink)) break;
    total += sink.size();
  }
  c->socket.close(ec);
}

struct Body {
  http::BodyKind kind = http::BodyKind::none;
  std::uint64_t content_length = 0;
};

// Reads and drops a request body whose first bytes (if any) are at the front of `in`; what follows
// it (a pipelined request) stays in `in`. Returns 0 when done, else the status to answer before
// closing (400 bad chunking, 413 too large), or -1 to close quietly (peer gone, deadline).
awaitable<int> discard_body(Connection& c, const Body& body, std::string& in) {
  if (body.kind == http::BodyKind::content_length) {
    if (body.content_length > kMaxBody) co_return 413;
    std::uint64_t remaining = body.content_length;
    for (;;) {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, in.size()));
      in.erase(0, take);
      remaining -= take;
      if (remaining == 0) co_return 0;
      if (!co_await read_more(c, in)) co_return -1;
    }
  }
  http::ChunkedDecoder decoder;
  for (;;) {
    std::size_t consumed = 0;
    std::string_view data;
    const auto st = decoder.decode(in, consumed, data);
    in.erase(0, consumed);
    if (st == http::ChunkedDecoder::Status::done) co_return 0;
    if (st == http::ChunkedDecoder::Status::error) co_return 400;
    if (decoder.body_bytes() > kMaxBody) co_return 413;
    if (st == http::ChunkedDecoder::Status::need_more && !co_await read_more(c, in)) co_return -1;
  }
}

}  // namespace

Connection::Connection(tcp::socket s, std::list<Connection*>& reg)
    : socket(std::move(s)), timer(socket.get_executor()), registry(reg) {
  entry = registry.insert(registry.end(), this);
}

Connection::~Connection() { registry.erase(entry); }

awaitable<void> Server::Impl::serve(std::shared_ptr<Connection> c) {
  const http::Limits limits;
  const auto timeout = limits_.header_timeout;
  http::RequestHead req;
  std::string in;
  std::string out;
  for (;;) {
    // The head: bytes already buffered (pipelining) first, then reads, within the deadline.
    arm(c, timeout);
    http::ParseError perr;
    http::ParseResult parsed;
    while ((parsed = http::parse_request(in, limits, req, perr)) == http::ParseResult::incomplete) {
      if (!co_await read_more(*c, in)) co_return;
    }
    if (parsed == http::ParseResult::error) {
      out.clear();
      write_reply(text_reply(perr.status, perr.reason), false, false, out);
      if (co_await write_all(*c, out)) co_await linger_close(c, timeout);
      co_return;
    }
    // Copy what the answer needs: the views into `in` die when the body is dropped from it.
    const http::Method method = req.method;
    const bool head_only = method == http::Method::head;
    const bool keep_alive = req.keep_alive;
    const std::string path(req.path);
    const Body body{req.body, req.content_length};
    const bool expect_continue = req.expect_continue;
    in.erase(0, req.head_size);

    if (body.kind != http::BodyKind::none) {
      int status = 0;
      if (expect_continue && body.kind == http::BodyKind::content_length && body.content_length > kMaxBody) {
        status = 413;  // refuse before the client sends it
      } else {
        if (expect_continue && !co_await write_all(*c, kContinue)) co_return;
        arm(c, timeout);
        status = co_await discard_body(*c, body, in);
      }
      if (status < 0) co_return;
      if (status > 0) {
        out.clear();
        write_reply(text_reply(status, status == 413 ? "request body too large" : "bad chunked body"), head_only,
                    false, out);
        if (co_await write_all(*c, out)) co_await linger_close(c, timeout);
        co_return;
      }
    }

    const Reply reply = route(method, path, handlers_);
    out.clear();
    write_reply(reply, head_only, keep_alive, out);
    arm(c, timeout);
    if (!co_await write_all(*c, out)) co_return;
    if (!keep_alive) {
      co_await linger_close(c, timeout);
      co_return;
    }
  }
}

}  // namespace rampart::admin
