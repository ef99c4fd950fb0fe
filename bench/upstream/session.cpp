#include "session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "chunked_decoder.hpp"
#include "crc32.hpp"
#include "json.hpp"
#include "options.hpp"
#include "response_head.hpp"

namespace rampart::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;
using tuple_awaitable_t = asio::as_tuple_t<asio::use_awaitable_t<>>;
constexpr tuple_awaitable_t use_tuple{};

namespace {

// Pieces of a body at most this large are copied into the output buffer (so pipelined and
// chunked responses coalesce into few writes); larger ones are written straight from the source.
constexpr std::size_t copy_threshold = 16 * 1024;

bool status_has_body(unsigned status) {
  return !(status < 200 || status == 204 || status == 304);
}

std::string format_peer(const tcp::socket& socket) {
  boost::system::error_code ec;
  const tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return format_endpoint(ep);
}

}  // namespace

asio::awaitable<void> serve(tcp::socket socket, server_context& ctx, worker_counters& counters,
                            response_cache& cache) {
  session s(std::move(socket), ctx, counters, cache);
  co_await s.run();
}

session::session(tcp::socket socket, server_context& ctx, worker_counters& counters,
                 response_cache& cache)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      ctx_(ctx),
      counters_(counters),
      cache_(cache),
      in_(new char[in_capacity]) {
  out_.reserve(2 * slice_bytes);
  boost::system::error_code ec;
  // Writes are first attempted synchronously; a full socket buffer falls back to async_write.
  socket_.non_blocking(true, ec);
  peer_ = format_peer(socket_);
}

asio::awaitable<void> session::run() {
  std::size_t resume = 0;
  while (true) {
    parse_result pr;
    while (true) {
      pr = parse_request_head(input(), head_, resume);
      if (pr.state != parse_state::incomplete) break;
      resume = pr.resume_from;
      if (!co_await flush()) co_return;
      if (!co_await fill()) co_return;  // EOF between requests, or an error
    }
    resume = 0;
    if (pr.state == parse_state::error) {
      co_await fail_and_close(pr.status, "malformed request head");
      co_return;
    }
    if (!co_await serve_request(pr.consumed)) co_return;
  }
}

asio::awaitable<bool> session::serve_request(std::size_t head_bytes) {
  ++requests_;
  const request_head& h = head_;
  const int version_minor = h.version_minor;
  const bool head_method = h.method == "HEAD";
  const bool expect_continue = h.expect_continue && h.has_body() && version_minor >= 1;
  bool keep_alive = version_minor >= 1 ? !h.connection_close : h.connection_keep_alive;
  // Both framings at once: the body was read as chunked, but do not trust the connection after.
  if (h.has_transfer_encoding && h.has_content_length) keep_alive = false;

  endpoint ep = endpoint::plain;
  if (h.path == "/echo") ep = endpoint::echo;
  else if (h.path == "/stats") ep = endpoint::stats;
  else if (h.path == "/reset-stats") ep = endpoint::reset_stats;

  response_plan plan;
  extra_headers_.clear();
  error_.clear();
  const bool query_ok = h.query.empty() || parse_query(h.query, plan, extra_headers_, error_);
  if (!query_ok) {
    plan = response_plan{};
    plan.status = 400;
    extra_headers_.clear();
  }

  if (plan.drop) {
    co_await flush();  // earlier pipelined responses still go out
    boost::system::error_code ec;
    socket_.close(ec);
    co_return false;
  }

  if (h.upgrade_websocket && h.connection_upgrade && version_minor >= 1) {
    in_begin_ += head_bytes;
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    out_.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    out_.append("X-Upstream-Name: ").append(ctx_.name()).append("\r\n");
    out_.append(extra_headers_).append("\r\n");
    co_await tunnel_echo();
    co_return false;
  }

  // Everything that needs the head's views is done before the body may overwrite the input.
  if (ep == endpoint::echo && query_ok) begin_echo_json(ep);
  in_begin_ += head_bytes;

  if (expect_continue) out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  std::uint64_t body_bytes = 0;
  std::uint32_t crc = 0;
  switch (co_await read_body(ep == endpoint::echo, body_bytes, crc)) {
    case body_status::ok: break;
    case body_status::closed: co_return false;
    case body_status::malformed:
      co_await fail_and_close(400, "malformed chunked body");
      co_return false;
  }

  if (ep == endpoint::plain || ep == endpoint::echo)
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
  if (plan.close) keep_alive = false;

  body_source src;
  std::string_view content_type = "text/plain";
  if (!query_ok) {
    dyn_.assign(error_).push_back('\n');
    src.dyn = &dyn_;
  } else if (ep == endpoint::echo) {
    finish_echo_json(body_bytes, crc);
    src.dyn = &dyn_;
    content_type = "application/json";
  } else if (ep == endpoint::stats || ep == endpoint::reset_stats) {
    build_stats_json(ep == endpoint::reset_stats);
    src.dyn = &dyn_;
    content_type = "application/json";
  } else if (plan.json) {
    // Generated once per connection and size, then reused (benchmarks keep connections open).
    if (json_size_ != *plan.json) {
      json_.clear();
      append_json_body(*plan.json, json_);
      json_size_ = *plan.json;
    }
    src.dyn = &json_;
    content_type = "application/json";
  } else {
    src.size = plan.size.value_or(ctx_.body_size());
  }
  if (src.dyn != nullptr) src.size = src.dyn->size();
  if (query_ok && !plan.content_type.empty()) content_type = plan.content_type;

  if (plan.delay_ms > 0) {
    if (!co_await flush()) co_return false;
    co_await wait_ms(plan.delay_ms);
  }

  if (plan.malformed != malformed_kind::none) {
    append_malformed(plan.malformed);
    co_await close_gracefully();
    co_return false;
  }

  // Fast path: the prebuilt bytes of a plain keep-alive response.
  if (src.dyn == nullptr && plan.status == 200 && extra_headers_.empty() && !plan.chunked && plan.content_type.empty() &&
      keep_alive && version_minor >= 1 && !head_method && plan.delay_body_ms == 0) {
    if (const std::string* bytes = cache_.find(src.size)) {
      out_.append(*bytes);
      if (out_.size() >= slice_bytes && !co_await flush()) co_return false;
      co_return true;
    }
  }

  const bool has_body = status_has_body(plan.status);
  head_spec spec;
  spec.status = plan.status;
  spec.content_type = has_body ? content_type : std::string_view{};
  spec.content_length = src.size;
  spec.extra_headers = extra_headers_;
  spec.name = ctx_.name();
  bool chunked = false;
  if (!has_body) {
    spec.framing = body_framing::none;
  } else if (plan.chunked && version_minor >= 1) {
    spec.framing = body_framing::chunked;
    chunked = true;
  } else if (plan.chunked) {
    // An HTTP/1.0 client cannot take chunked framing: delimit the body by closing.
    spec.framing = body_framing::none;
    keep_alive = false;
  }
  if (!keep_alive) spec.connection = connection_header::close;
  else if (version_minor == 0) spec.connection = connection_header::keep_alive;
  append_response_head(out_, spec);

  if (has_body && !head_method) {
    if (plan.delay_body_ms > 0) {
      if (!co_await flush()) co_return false;
      co_await wait_ms(plan.delay_body_ms);
    }
    if (!co_await send_body(src, chunked, plan.chunk, plan.trailers)) co_return false;
  }

  if (!keep_alive) {
    co_await close_gracefully();
    co_return false;
  }
  if (out_.size() >= slice_bytes && !co_await flush()) co_return false;
  co_return true;
}

asio::awaitable<session::body_status> session::read_body(bool want_crc, std::uint64_t& bytes,
                                                         std::uint32_t& crc) {
  const auto consume = [&](const char* p, std::size_t n) {
    bytes += n;
    if (want_crc) crc = crc32_update(crc, p, n);
  };
  if (head_.chunked) {
    chunked_decoder decoder;
    while (true) {
      const auto r = decoder.feed(input(), consume);
      in_begin_ += r.consumed;
      if (r.error) co_return body_status::malformed;
      if (r.done) co_return body_status::ok;
      if (!co_await flush()) co_return body_status::closed;
      if (!co_await fill()) co_return body_status::closed;
    }
  }
  if (!head_.has_content_length) co_return body_status::ok;
  std::uint64_t remaining = head_.content_length;
  while (true) {
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(remaining, in_end_ - in_begin_));
    consume(in_.get() + in_begin_, n);
    in_begin_ += n;
    remaining -= n;
    if (remaining == 0) co_return body_status::ok;
    if (!co_await flush()) co_return body_status::closed;
    if (!co_await fill()) co_return body_status::closed;
  }
}

asio::const_buffer session::slice(const body_source& src, std::uint64_t offset,
                                  std::uint64_t len) const {
  if (src.dyn == nullptr) return ctx_.body_slice(offset, len);
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, slice_bytes));
  return asio::const_buffer(src.dyn->data() + offset, n);
}

asio::awaitable<bool> session::send_range(const body_source& src, std::uint64_t offset,
                                          std::uint64_t len) {
  while (len > 0) {
    const asio::const_buffer piece = slice(src, offset, len);
    if (piece.size() <= copy_threshold) {
      out_.append(static_cast<const char*>(piece.data()), piece.size());
      if (out_.size() >= slice_bytes && !co_await flush()) co_return false;
    } else if (!co_await write_out_and(piece)) {
      co_return false;
    }
    offset += piece.size();
    len -= piece.size();
  }
  co_return true;
}

asio::awaitable<bool> session::send_body(const body_source& src, bool chunked,
                                         std::uint64_t chunk, std::string_view trailers) {
  if (!chunked) co_return co_await send_range(src, 0, src.size);
  std::uint64_t offset = 0;
  while (offset < src.size) {
    const std::uint64_t n = std::min(chunk, src.size - offset);
    append_hex(out_, n);
    out_.append("\r\n");
    if (!co_await send_range(src, offset, n)) co_return false;
    out_.append("\r\n");
    offset += n;
  }
  out_.append("0\r\n").append(trailers).append("\r\n");
  co_return true;
}

asio::awaitable<void> session::tunnel_echo() {
  if (!co_await flush()) co_return;
  if (in_end_ > in_begin_) {
    const asio::const_buffer rest(in_.get() + in_begin_, in_end_ - in_begin_);
    in_begin_ = in_end_;
    if (!co_await write_out_and(rest)) co_return;
  }
  while (true) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_.get(), in_capacity), use_tuple);
    if (ec) break;
    if (!co_await write_out_and(asio::const_buffer(in_.get(), n))) co_return;
  }
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  socket_.close(ec);
}

asio::awaitable<bool> session::fill() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_end_ == in_capacity) {
    if (in_begin_ == 0) co_return false;
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  auto [ec, n] = co_await socket_.async_read_some(
      asio::buffer(in_.get() + in_end_, in_capacity - in_end_), use_tuple);
  if (ec) co_return false;
  in_end_ += n;
  co_return true;
}

asio::awaitable<bool> session::write_out_and(asio::const_buffer extra) {
  const std::size_t total = out_.size() + extra.size();
  if (total == 0) co_return true;
  std::array<asio::const_buffer, 2> bufs{asio::buffer(out_), extra};
  boost::system::error_code ec;
  const std::size_t n = socket_.write_some(bufs, ec);  // non-blocking attempt
  if (n == total) {
    out_.clear();
    co_return true;
  }
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return false;
  if (n < out_.size()) {
    bufs[0] = asio::buffer(out_) + n;
  } else {
    bufs[0] = asio::const_buffer{};
    bufs[1] = extra + (n - out_.size());
  }
  auto [wec, written] = co_await asio::async_write(socket_, bufs, use_tuple);
  out_.clear();
  co_return !wec;
}

asio::awaitable<void> session::wait_ms(std::uint64_t ms) {
  timer_.expires_after(std::chrono::milliseconds(ms));
  co_await timer_.async_wait(use_tuple);
}

asio::awaitable<void> session::drain_input() {
  while (true) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_.get(), in_capacity), use_tuple);
    if (ec) co_return;
  }
}

asio::awaitable<void> session::close_gracefully() {
  using namespace asio::experimental::awaitable_operators;
  boost::system::error_code ec;
  if (co_await flush()) {
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    timer_.expires_after(std::chrono::seconds(1));
    co_await (drain_input() || timer_.async_wait(use_tuple));
  }
  socket_.close(ec);
}

asio::awaitable<void> session::fail_and_close(unsigned status, std::string_view why) {
  head_spec spec;
  spec.status = status;
  spec.content_length = why.size() + 1;
  spec.connection = connection_header::close;
  spec.name = ctx_.name();
  append_response_head(out_, spec);
  out_.append(why).push_back('\n');
  co_await close_gracefully();
}

void session::begin_echo_json(endpoint) {
  const request_head& h = head_;
  dyn_.clear();
  dyn_.append("{\"method\":");
  append_json_string(dyn_, h.method);
  dyn_.append(",\"target\":");
  append_json_string(dyn_, h.target);
  dyn_.append(",\"path\":");
  append_json_string(dyn_, h.path);
  dyn_.append(",\"query\":");
  append_json_string(dyn_, h.query);
  dyn_.append(",\"version\":");
  append_json_string(dyn_, h.version);
  dyn_.append(",\"headers\":[");
  for (std::size_t i = 0; i < h.field_count; ++i) {
    if (i > 0) dyn_.push_back(',');
    dyn_.push_back('[');
    append_json_string(dyn_, h.fields[i].name);
    dyn_.push_back(',');
    append_json_string(dyn_, h.fields[i].value);
    dyn_.push_back(']');
  }
  dyn_.push_back(']');
}

void session::finish_echo_json(std::uint64_t body_bytes, std::uint32_t crc) {
  static constexpr char hex[] = "0123456789abcdef";
  char crc_hex[8];
  for (int i = 0; i < 8; ++i) crc_hex[i] = hex[(crc >> (28 - 4 * i)) & 0xFu];
  dyn_.append(",\"body_bytes\":");
  append_decimal(dyn_, body_bytes);
  dyn_.append(",\"body_crc32\":\"").append(crc_hex, 8).append("\"");
  dyn_.append(",\"connection_requests\":");
  append_decimal(dyn_, requests_);
  dyn_.append(",\"peer\":");
  append_json_string(dyn_, peer_);
  dyn_.append(",\"server\":");
  append_json_string(dyn_, ctx_.name());
  dyn_.append(",\"upstream\":");
  append_json_string(dyn_, ctx_.name());
  dyn_.append("}\n");
}

void session::build_stats_json(bool reset) {
  if (reset) ctx_.reset_counters();
  dyn_.clear();
  dyn_.append("{\"connections\":");
  append_decimal(dyn_, ctx_.total_connections());
  dyn_.append(",\"requests\":");
  append_decimal(dyn_, ctx_.total_requests());
  dyn_.append(",\"name\":");
  append_json_string(dyn_, ctx_.name());
  dyn_.append("}\n");
}

void session::append_malformed(malformed_kind kind) {
  const std::string& name = ctx_.name();
  auto name_line = [&] { out_.append("X-Upstream-Name: ").append(name).append("\r\n"); };
  out_.append("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
  name_line();
  out_.append(extra_headers_);
  switch (kind) {
    case malformed_kind::cl_te:
      out_.append("Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
      break;
    case malformed_kind::bare_lf:
      out_.append("X-Bare-Lf: yes\nContent-Length: 5\r\n\r\nhello");
      break;
    case malformed_kind::obs_fold:
      out_.append("X-Folded: first\r\n  second\r\nContent-Length: 5\r\n\r\nhello");
      break;
    case malformed_kind::bad_chunk:
      out_.append("Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
      break;
    case malformed_kind::dup_cl:
      out_.append("Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
      break;
    case malformed_kind::nul:
      out_.append("X-Nul: a");
      out_.push_back('\0');
      out_.append("b\r\nContent-Length: 5\r\n\r\nhello");
      break;
    case malformed_kind::short_body:
      out_.append("Content-Length: 100\r\n\r\n0123456789");
      break;
    case malformed_kind::none:
      break;
  }
}

}  // namespace rampart::upstream
