#include "h2_client.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nghttp2/nghttp2.h>

#include "connection.hpp"

namespace rampart::bench {

namespace {

constexpr std::size_t in_capacity = 64 * 1024;
constexpr std::int32_t window_size = 1 << 30;
constexpr std::int64_t reconnect_backoff_ns = 1'000'000;

// One HTTP/2 connection: the nghttp2 session and its in-flight requests. Lives in the frame
// of run_h2 for one connection; reader() and writer() run concurrently on the slot's thread.
class h2_connection {
 public:
  h2_connection(client_env& env, slot& s, tls_conn& conn, asio::steady_timer& wake)
      : env_(env), slot_(s), conn_(conn), wake_(wake), in_(new char[in_capacity]) {
    const options& opts = *env.plan.opts;
    reqs_.resize(opts.streams);
    for (std::size_t i = 0; i < reqs_.size(); ++i) reqs_[i].index = i;
    free_ = reqs_.size();
    for (const auto& [name, value] : env.plan.request.h2_fields) {
      nva_.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                      NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
    }
  }
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;
  ~h2_connection() {
    conn_.s.next_layer().set_read_hook(nullptr, nullptr);
    if (session_) nghttp2_session_del(session_);
    for (auto& t : slot_.inflight) t = 0;
  }

  // Creates the session and queues the client preface and SETTINGS. False on failure.
  bool init() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    const int rv = nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
      session_ = nullptr;
      return false;
    }
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(window_size)},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
    };
    if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) return false;
    if (nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, window_size) != 0) return false;
    return true;
  }

  asio::awaitable<void> reader() {
    conn_.s.next_layer().set_read_hook(&h2_connection::on_socket_read, this);
    while (!closed_) {
      auto [ec, n] = co_await conn_.stream().async_read_some(asio::buffer(in_.get(), in_capacity), use_nothrow);
      if (n > 0 && !closed_) {
        reader_busy_ = true;  // until the TLS layer goes back to the socket (on_socket_read)
        env_.stats.c.bytes_received += n;
        const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(in_.get()), n);
        if (rv < 0) {
          fail(failure::protocol);
          break;
        }
        // The writer is woken by the read hook once every buffered record is processed.
        if (!env_.plan.opts->open_loop()) refill();
      }
      if (ec) {
        if (!closed_) {
          const bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
          if (eof && in_flight() == 0) close();  // the server ended an idle connection
          else fail(classify_io_error(ec));
        }
        break;
      }
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close();
    }
  }

  asio::awaitable<void> writer() {
    refill();
    while (!closed_) {
      if (reader_busy_) {  // more received records to process first: flush them all at once
        waiting_ = true;
        wake_.expires_at(to_time_point(std::numeric_limits<std::int64_t>::max() / 2));
        co_await wake_.async_wait(use_nothrow);
        waiting_ = false;
        continue;
      }
      if (env_.plan.opts->open_loop()) refill();
      if (!drain_session()) {
        fail(failure::protocol);
        break;
      }
      if (!out_.empty()) {
        auto [ec, n] = co_await asio::async_write(conn_.stream(), asio::buffer(out_), use_nothrow);
        out_.clear();
        if (ec) {
          if (!closed_) fail(classify_io_error(ec));
          break;
        }
        continue;
      }
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        close();
        break;
      }
      // Nothing to send: sleep until a request falls due or the reader kicks us.
      std::int64_t until = std::numeric_limits<std::int64_t>::max() / 2;
      if (env_.plan.opts->open_loop() && free_ > 0 && !refused_) until = slot_.pace.peek();
      wake_.expires_at(to_time_point(until));
      waiting_ = true;
      co_await wake_.async_wait(use_nothrow);
      waiting_ = false;
    }
  }

 private:
  struct request {
    std::size_t index = 0;
    std::int64_t start = 0;  // latency start (send time, or due time in open loop)
    std::uint64_t body_sent = 0;
    unsigned status = 0;
    bool used = false;
  };

  std::size_t in_flight() const { return reqs_.size() - free_; }

  // Submits requests into free stream slots: closed loop all of them now, open loop the
  // ones whose time has come.
  void refill() {
    const bool open_loop = env_.plan.opts->open_loop();
    while (free_ > 0 && !refused_ && !closed_ && !env_.stopping) {
      std::int64_t start;
      const std::int64_t now = now_ns();
      if (open_loop) {
        if (slot_.pace.peek() > now) break;
        start = slot_.pace.take();
      } else {
        start = now;
      }
      submit(start, now);
    }
  }

  void submit(std::int64_t start, std::int64_t now) {
    request* r = nullptr;
    for (auto& q : reqs_)
      if (!q.used) {
        r = &q;
        break;
      }
    r->used = true;
    r->start = start;
    r->status = 0;
    r->body_sent = 0;
    nghttp2_data_provider provider{};
    provider.source.ptr = r;
    provider.read_callback = read_body;
    const bool has_body = !env_.plan.request.body.empty();
    const int32_t id = nghttp2_submit_request(session_, nullptr, nva_.data(), nva_.size(),
                                              has_body ? &provider : nullptr, r);
    if (id < 0) {  // e.g. after GOAWAY: no new streams on this connection
      r->used = false;
      refused_ = true;
      return;
    }
    --free_;
    slot_.inflight[r->index] = now;
  }

  // Moves everything nghttp2 wants to send into out_. False on a session error.
  bool drain_session() {
    for (;;) {
      const uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) return false;
      if (n == 0) return true;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (out_.size() >= 256 * 1024) return true;
    }
  }

  static void on_socket_read(void* p) {
    auto* self = static_cast<h2_connection*>(p);
    self->reader_busy_ = false;
    self->kick();
  }

  void kick() {
    if (waiting_) wake_.cancel();
  }

  // Ends the connection; the other coroutine sees the close and returns.
  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    conn_.tcp_socket().close(ignored);
    wake_.cancel();
  }

  void fail(failure f) {
    if (!closed_ && (in_flight() > 0 || f != failure::reset)) note_failure(env_, slot_, f);
    else if (slot_.timed_out) slot_.timed_out = false;
    close();
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 || std::memcmp(name, ":status", 7) != 0) return 0;
    auto* self = static_cast<h2_connection*>(user);
    auto* r = static_cast<request*>(nghttp2_session_get_stream_user_data(self->session_, frame->hd.stream_id));
    if (!r || valuelen != 3) return 0;
    unsigned code = 0;
    for (std::size_t i = 0; i < 3; ++i) {
      if (value[i] < '0' || value[i] > '9') return 0;
      code = code * 10 + static_cast<unsigned>(value[i] - '0');
    }
    if (code >= 200 || r->status == 0) r->status = code;
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code, void* user) {
    auto* self = static_cast<h2_connection*>(user);
    auto* r = static_cast<request*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (!r || !r->used) return 0;
    const bool was_timed = self->slot_.inflight[r->index] == 0;  // the sweeper took it
    if (!was_timed && !self->env_.stopping && !self->closed_) {
      if (error_code == NGHTTP2_NO_ERROR && r->status >= 100) self->env_.stats.on_response(r->status, now_ns() - r->start);
      else ++self->env_.stats.c.resets;
    }
    self->slot_.inflight[r->index] = 0;
    r->used = false;
    ++self->free_;
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void* user) {
    auto* self = static_cast<h2_connection*>(user);
    auto* r = static_cast<request*>(source->ptr);
    const std::string& body = self->env_.plan.request.body;
    const std::size_t n = std::min<std::size_t>(length, body.size() - r->body_sent);
    std::memcpy(buf, body.data() + r->body_sent, n);
    r->body_sent += n;
    if (r->body_sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  client_env& env_;
  slot& slot_;
  tls_conn& conn_;
  asio::steady_timer& wake_;
  nghttp2_session* session_ = nullptr;
  std::vector<request> reqs_;
  std::size_t free_ = 0;  // requests slots not in use
  std::vector<nghttp2_nv> nva_;
  std::string out_;
  std::unique_ptr<char[]> in_;
  bool waiting_ = false;      // the writer waits on wake_
  bool reader_busy_ = false;  // the reader has received records it has not processed yet
  bool closed_ = false;
  bool refused_ = false;
};

}  // namespace

asio::awaitable<void> run_h2(client_env& env, slot& s) {
  using namespace asio::experimental::awaitable_operators;
  const auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  while (!env.stopping) {
    std::optional<tls_conn> conn;
    conn.emplace(ex, env.plan);
    const open_result opened = co_await open_connection(env, s, *conn, true);
    if (opened == open_result::stopped) break;
    if (opened == open_result::failed) {
      if (!co_await wait_until(env, s, timer, now_ns() + reconnect_backoff_ns)) break;
      continue;
    }
    {
      h2_connection h2(env, s, *conn, timer);
      if (!h2.init()) {
        note_failure(env, s, failure::protocol);
      } else {
        s.waiter = &timer;
        co_await (h2.reader() && h2.writer());
        s.waiter = nullptr;
      }
    }
    release_connection(s, *conn);
  }
}

}  // namespace rampart::bench
