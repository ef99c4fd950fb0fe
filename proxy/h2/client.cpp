#include "h2/client.hpp"

#include "h2/outbound.hpp"
#include "h2/validate.hpp"
#include "http/syntax.hpp"

#include <algorithm>

namespace rampart::h2 {

namespace {

constexpr std::size_t kFrameHeader = 9;
constexpr std::size_t kMaxFrame = 16384;               // SETTINGS_MAX_FRAME_SIZE we keep (the default)
constexpr std::size_t kMaxFreeStreams = 16;
constexpr std::uint64_t kFieldOverhead = 32;  // RFC 9113 §6.5.2

// Fields a request (or its trailers) never carries on HTTP/2 (RFC 9113 §8.2.2, §8.3.1).
bool dropped_request_field(std::span<const http::Header> fields, const http::Header& f, bool has_connection) noexcept {
  const std::string_view n = f.name;
  if (n.empty() || n[0] == ':') return true;
  for (std::string_view banned :
       {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "http2-settings"})
    if (http::iequals(n, banned)) return true;
  if (http::iequals(n, "te") && !http::iequals(f.value, "trailers")) return true;
  return has_connection && listed_in_connection(fields, n);
}

}  // namespace

// ---- ResponseBlock ------------------------------------------------------------------------------

void ResponseBlock::start(Kind kind) {
  kind_ = kind;
  verdict_ = Verdict::ok;
  reason_ = "";
  list_size_ = 0;
  status_ = 0;
  regular_seen_ = false;
  content_length_.reset();
  bytes_.clear();
  refs_.clear();
  views_.clear();
}

void ResponseBlock::fail(Verdict v, const char* why) {
  if (verdict_ != Verdict::ok) return;
  verdict_ = v;
  reason_ = why;
}

ResponseBlock::Ref ResponseBlock::keep(std::string_view s) {
  const Ref r{static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(s.size())};
  bytes_.append(s);
  return r;
}

void ResponseBlock::add(std::string_view name, std::string_view value) {
  list_size_ += name.size() + value.size() + kFieldOverhead;
  if (list_size_ > max_list_size_) fail(Verdict::too_large, "header list too large");
  if (verdict_ != Verdict::ok) return;

  if (!name.empty() && name[0] == ':') {
    if (kind_ == Kind::trailers) return fail(Verdict::malformed, "pseudo-header in trailers");
    if (name != ":status") return fail(Verdict::malformed, "unknown pseudo-header");
    if (regular_seen_) return fail(Verdict::malformed, "pseudo-header after regular field");
    if (status_ != 0) return fail(Verdict::malformed, "duplicate :status");
    if (value.size() != 3 || !std::all_of(value.begin(), value.end(), http::detail::is_digit))
      return fail(Verdict::malformed, "invalid :status");
    const int n = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    if (n < 100 || n > 599) return fail(Verdict::malformed, "invalid :status");
    if (n == 101) return fail(Verdict::malformed, ":status 101 in HTTP/2");
    status_ = n;
    return;
  }

  regular_seen_ = true;
  if (!valid_field_name(name)) return fail(Verdict::malformed, "invalid field name");
  if (!valid_field_value(value)) return fail(Verdict::malformed, "invalid field value");
  if (connection_specific(name, value)) return fail(Verdict::malformed, "connection-specific field");
  if (name == "content-length") {
    if (kind_ == Kind::trailers) return fail(Verdict::malformed, "content-length in trailers");
    if (content_length_) return fail(Verdict::malformed, "duplicate content-length");
    if (value.empty() || value.size() > 19) return fail(Verdict::malformed, "invalid content-length");
    std::uint64_t n = 0;
    for (char c : value) {
      if (!http::detail::is_digit(c)) return fail(Verdict::malformed, "invalid content-length");
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n > http::detail::k_max_length) return fail(Verdict::malformed, "invalid content-length");
    content_length_ = n;
  }
  const Ref n = keep(name);
  refs_.emplace_back(n, keep(value));
}

ResponseBlock::Verdict ResponseBlock::finish() {
  if (verdict_ != Verdict::ok) return verdict_;
  if (kind_ == Kind::head) {
    if (status_ == 0)
      fail(Verdict::malformed, "missing :status");
    else if (content_length_ && status_ < 200)
      fail(Verdict::malformed, "content-length in a 1xx response");
    else if (content_length_ && status_ == 204 && *content_length_ != 0)
      fail(Verdict::malformed, "content-length in a 204 response");
    if (verdict_ != Verdict::ok) return verdict_;
  }
  views_.clear();
  views_.reserve(refs_.size());
  for (const auto& [n, v] : refs_)
    views_.push_back({std::string_view(bytes_.data() + n.off, n.len), std::string_view(bytes_.data() + v.off, v.len)});
  return verdict_;
}

const char* to_string(ClientFailure f) noexcept {
  switch (f) {
    case ClientFailure::none: return "none";
    case ClientFailure::protocol_error: return "protocol_error";
    case ClientFailure::push_promise: return "push_promise";
    case ClientFailure::header_block_too_large: return "header_block_too_large";
    case ClientFailure::continuation_flood: return "continuation_flood";
    case ClientFailure::control_flood: return "control_flood";
    case ClientFailure::internal: return "internal";
  }
  return "unknown";
}

// ---- streams ------------------------------------------------------------------------------------

// Codec state of one request stream, from submit_request until on_stream_close. Recycled.
struct ClientConnection::Stream {
  std::uint32_t id = 0;
  bool head = false;                        // a HEAD request: the response has no body whatever its content-length
  bool sent = false;                        // the request HEADERS were produced (the server may have seen them)
  bool rejected = false;                    // reset by the codec or the owner: no handler calls but on_stream_close
  std::optional<std::uint32_t> close_code;  // the codec's reset code, reported by on_stream_close
  // Response side.
  bool final_seen = false;     // a final response head arrived (later HEADERS are trailers)
  bool body_allowed = true;    // false for HEAD, 204, 304
  bool response_done = false;  // on_end_stream was called
  std::optional<std::uint64_t> content_length;
  std::uint64_t body_received = 0;
  std::size_t unconsumed = 0;  // delivered to on_data, not yet consume()d
  // Request side.
  bool has_body = false;   // submitted with a data provider
  OutboundBody body;       // the request body and trailers

  void reset(std::uint32_t stream_id) {
    id = stream_id;
    head = sent = rejected = false;
    close_code.reset();
    final_seen = response_done = false;
    body_allowed = true;
    content_length.reset();
    body_received = 0;
    unconsumed = 0;
    has_body = false;
    body.clear();
  }
};

// Static trampolines from nghttp2's C callbacks to the connection.
struct ClientCallbacks {
  static ClientConnection& self(void* user) { return *static_cast<ClientConnection*>(user); }

  static ssize_t send(nghttp2_session*, const std::uint8_t* data, std::size_t length, int, void* user) {
    return self(user).send_bytes(data, length);
  }
  static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd, std::size_t length,
                       nghttp2_data_source*, void* user) {
    return self(user).send_data(framehd, frame->hd.stream_id, length);
  }
  static ssize_t read(nghttp2_session*, std::int32_t stream, std::uint8_t*, std::size_t length, std::uint32_t* flags,
                      nghttp2_data_source*, void* user) {
    return self(user).read_data(stream, length, flags);
  }
  static int begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    return self(user).on_begin_frame(hd->type, hd->stream_id, hd->length);
  }
  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user).on_begin_headers(frame->hd.stream_id);
  }
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user).on_header(frame->hd.stream_id, {reinterpret_cast<const char*>(name), namelen},
                                {reinterpret_cast<const char*>(value), valuelen});
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    return self(user).on_frame_recv(*frame);
  }
  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream, const std::uint8_t* data, std::size_t len,
                        void* user) {
    return self(user).on_data_chunk(stream, {reinterpret_cast<const char*>(data), len});
  }
  static int stream_close(nghttp2_session*, std::int32_t stream, std::uint32_t error_code, void* user) {
    return self(user).on_stream_closed(stream, error_code);
  }
  static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    return self(user).on_frame_sent(*frame);
  }
};

ClientConnection::ClientConnection(const ClientSettings& s, Handler& handler)
    : settings_(s), handler_(handler), block_(s.max_header_list_size) {
  constexpr std::uint32_t kMaxWindow = 0x7fffffffu;  // windows are 31-bit
  settings_.initial_window_size = std::min(settings_.initial_window_size, kMaxWindow);
  settings_.connection_window_size = std::min(settings_.connection_window_size, kMaxWindow);
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
    if (cbs) nghttp2_session_callbacks_del(cbs);
    fatal_ = true;
    failure_ = ClientFailure::internal;
    return;
  }
  nghttp2_session_callbacks_set_send_callback(cbs, &ClientCallbacks::send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &ClientCallbacks::send_data);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &ClientCallbacks::begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &ClientCallbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &ClientCallbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &ClientCallbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &ClientCallbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &ClientCallbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &ClientCallbacks::frame_send);

  // Response bodies are acknowledged by consume(), not on receipt.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // ResponseBlock and the body checks here are the one validation authority (see the header).
  nghttp2_option_set_no_http_messaging(opt, 1);
  // Our CONTINUATION bound fires first and names the cause.
  nghttp2_option_set_max_continuations(opt, std::size_t{settings_.max_continuations} + 1);

  const int rv = nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rv != 0) {
    session_ = nullptr;
    fatal_ = true;
    failure_ = ClientFailure::internal;
    return;
  }
  const nghttp2_settings_entry entries[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_list_size},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, settings_.header_table_size},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries, std::size(entries));
  if (settings_.connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(settings_.connection_window_size));
}

ClientConnection::~ClientConnection() {
  if (session_) nghttp2_session_del(session_);  // calls no stream-close callbacks
}

ClientConnection::Stream* ClientConnection::find(std::uint32_t id) const {
  const auto it = std::lower_bound(streams_.begin(), streams_.end(), id,
                                   [](const std::unique_ptr<Stream>& s, std::uint32_t v) { return s->id < v; });
  return it != streams_.end() && (*it)->id == id ? it->get() : nullptr;
}

ClientConnection::Stream* ClientConnection::acquire(std::uint32_t id) {
  std::unique_ptr<Stream> s;
  if (!free_.empty()) {
    s = std::move(free_.back());
    free_.pop_back();
  } else {
    s = std::make_unique<Stream>();
  }
  s->reset(id);
  streams_.push_back(std::move(s));  // ids only grow: the vector stays sorted
  return streams_.back().get();
}

void ClientConnection::recycle(std::unique_ptr<Stream> s) {
  if (free_.size() >= kMaxFreeStreams) return;
  s->reset(0);
  free_.push_back(std::move(s));
}

void ClientConnection::release(Stream* s) {
  const auto it = std::lower_bound(streams_.begin(), streams_.end(), s->id,
                                   [](const std::unique_ptr<Stream>& p, std::uint32_t v) { return p->id < v; });
  std::unique_ptr<Stream> owned = std::move(*it);
  streams_.erase(it);
  recycle(std::move(owned));
}

int ClientConnection::fail(ClientFailure f, std::uint32_t code) {
  if (failure_ == ClientFailure::none) failure_ = f;
  if (!fatal_) {
    nghttp2_session_terminate_session(session_, code);
    close_code_ = code;
  }
  fatal_ = true;
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

void ClientConnection::close_all(std::uint32_t sent_code) {
  if (streams_.empty()) return;
  std::vector<std::unique_ptr<Stream>> doomed;
  doomed.swap(streams_);
  for (std::unique_ptr<Stream>& s : doomed) {
    const std::uint32_t id = s->id;
    const std::uint32_t code = s->close_code.value_or(s->sent ? sent_code : error::refused_stream);
    recycle(std::move(s));
    handler_.on_stream_close(id, code);
  }
}

bool ClientConnection::receive(std::string_view in) {
  if (!session_) return false;
  const auto rv =
      fatal_ ? 0 : nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
  if (rv < 0 && !fatal_) {  // nghttp2's own verdict (our bounds set fatal_ before failing the call)
    ClientFailure f = ClientFailure::protocol_error;
    if (rv == NGHTTP2_ERR_FLOODED)
      f = ClientFailure::control_flood;
    else if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
      f = ClientFailure::continuation_flood;
    const std::uint32_t code = f == ClientFailure::protocol_error ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_ENHANCE_YOUR_CALM;
    if (failure_ == ClientFailure::none) failure_ = f;
    nghttp2_session_terminate_session(session_, code);
    close_code_ = code;
    fatal_ = true;
  }
  // No more reading wanted: a GOAWAY exchange completed (nghttp2 connection errors are noticed
  // when their GOAWAY is produced).
  if (!fatal_ && !nghttp2_session_want_read(session_)) fatal_ = true;
  if (fatal_) {
    close_all(close_code_);
    return false;
  }
  return true;
}

std::size_t ClientConnection::produce(std::string& out, std::size_t max) {
  if (!session_ || lost_) return 0;
  out_ = &out;
  produced_ = 0;
  produce_max_ = max;
  const int rv = nghttp2_session_send(session_);
  out_ = nullptr;
  if (rv != 0 && !fatal_) {
    fatal_ = true;
    close_code_ = NGHTTP2_INTERNAL_ERROR;
    if (failure_ == ClientFailure::none) failure_ = ClientFailure::internal;
  }
  if (!writable_.empty()) {
    // Reported after nghttp2_session_send returned, so the handler may submit freely.
    for (std::size_t i = 0; i < writable_.size(); ++i)
      if (find(writable_[i])) handler_.on_writable(writable_[i]);
    writable_.clear();
  }
  if (fatal_) close_all(close_code_);
  return produced_;
}

bool ClientConnection::want_write() const { return session_ && !lost_ && nghttp2_session_want_write(session_) != 0; }

bool ClientConnection::done() const {
  if (!session_ || lost_) return true;
  return nghttp2_session_want_write(session_) == 0 && (fatal_ || nghttp2_session_want_read(session_) == 0);
}

bool ClientConnection::can_open() const {
  if (!session_ || fatal_ || goaway_sent_ || peer_goaway_) return false;
  if (!nghttp2_session_check_request_allowed(session_)) return false;
  return streams_.size() < peer_max_concurrent_streams();
}

std::uint32_t ClientConnection::peer_max_concurrent_streams() const {
  if (!session_) return 0;
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

// ---- receive side -------------------------------------------------------------------------------

int ClientConnection::on_begin_frame(std::uint8_t type, std::int32_t, std::size_t length) {
  switch (type) {
    case NGHTTP2_HEADERS:
      block_bytes_ = length;
      continuations_ = 0;
      break;
    case NGHTTP2_CONTINUATION:
      block_bytes_ += length;
      if (++continuations_ > settings_.max_continuations)
        return fail(ClientFailure::continuation_flood, NGHTTP2_ENHANCE_YOUR_CALM);
      break;
    case NGHTTP2_PUSH_PROMISE:
      // Push is disabled by our first SETTINGS, which the server reads before any request it
      // could push for (RFC 9113 §8.4): a connection error.
      return fail(ClientFailure::push_promise, NGHTTP2_PROTOCOL_ERROR);
    default: return 0;
  }
  if (block_bytes_ > std::uint64_t{settings_.max_header_list_size} + kMaxFrame)
    return fail(ClientFailure::header_block_too_large, NGHTTP2_ENHANCE_YOUR_CALM);
  return 0;
}

int ClientConnection::on_begin_headers(std::int32_t stream) {
  block_stream_ = stream;
  const Stream* s = find(static_cast<std::uint32_t>(stream));
  block_.start(s && s->final_seen ? ResponseBlock::Kind::trailers : ResponseBlock::Kind::head);
  return 0;
}

void ClientConnection::reject(Stream& s, std::uint32_t code, const char* reason) {
  if (s.rejected) return;
  s.rejected = true;
  s.close_code = code;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, static_cast<std::int32_t>(s.id), code);
  handler_.on_malformed(s.id, reason);
}

int ClientConnection::on_header(std::int32_t stream, std::string_view name, std::string_view value) {
  if (stream != block_stream_) return 0;
  const Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s || s->rejected) return 0;
  // A bad field is judged when the block ends (on_frame_recv): failing the callback here would
  // make nghttp2 skip on_begin_frame for the block's remaining CONTINUATION frames, and with it
  // the encoded-size and CONTINUATION bounds. Past a bad field the block only counts sizes.
  block_.add(name, value);
  return 0;
}

void ClientConnection::end_response(Stream& s) {
  s.response_done = true;
  handler_.on_end_stream(s.id);
}

int ClientConnection::on_frame_recv(const nghttp2_frame& frame) {
  const std::uint8_t type = frame.hd.type;
  if (type == NGHTTP2_GOAWAY) {
    peer_goaway_ = true;
    peer_last_stream_ = static_cast<std::uint32_t>(frame.goaway.last_stream_id);
    peer_goaway_code_ = frame.goaway.error_code;
    return 0;
  }
  if (type != NGHTTP2_HEADERS && type != NGHTTP2_DATA) return 0;
  const std::int32_t id = frame.hd.stream_id;
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  Stream* s = find(static_cast<std::uint32_t>(id));

  if (type == NGHTTP2_DATA) {
    if (!end_stream || !s || s->rejected) return 0;
    if (!s->final_seen)
      reject(*s, NGHTTP2_PROTOCOL_ERROR, "DATA before the final response");
    else if (s->body_allowed && s->content_length && s->body_received != *s->content_length)
      reject(*s, NGHTTP2_PROTOCOL_ERROR, "content-length does not match the DATA received");
    else
      end_response(*s);
    return 0;
  }

  block_bytes_ = 0;
  if (!s || s->rejected || id != block_stream_) return 0;
  const ResponseBlock::Verdict v = block_.finish();
  if (v != ResponseBlock::Verdict::ok) {
    reject(*s, v == ResponseBlock::Verdict::too_large ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR,
           block_.reason());
    return 0;
  }
  if (block_.kind() == ResponseBlock::Kind::trailers) {
    if (!end_stream) {
      reject(*s, NGHTTP2_PROTOCOL_ERROR, "trailers without END_STREAM");
    } else if (s->body_allowed && s->content_length && s->body_received != *s->content_length) {
      reject(*s, NGHTTP2_PROTOCOL_ERROR, "content-length does not match the DATA received");
    } else {
      handler_.on_trailers(s->id, block_.fields());
      if (!s->rejected) end_response(*s);
    }
    return 0;
  }
  const int status = block_.status();
  if (status < 200) {
    if (end_stream)
      reject(*s, NGHTTP2_PROTOCOL_ERROR, "interim response with END_STREAM");
    else
      handler_.on_informational(s->id, status, block_.fields());
    return 0;
  }
  s->final_seen = true;
  s->body_allowed = !(s->head || status == 204 || status == 304);
  s->content_length = block_.content_length();
  // END_STREAM on the HEADERS with a non-zero content-length is malformed (RFC 9113 §8.1.1).
  if (end_stream && s->body_allowed && s->content_length.value_or(0) != 0) {
    reject(*s, NGHTTP2_PROTOCOL_ERROR, "content-length without DATA");
    return 0;
  }
  handler_.on_response(s->id, status, block_.fields());
  if (end_stream && !s->rejected) end_response(*s);
  return 0;
}

int ClientConnection::on_data_chunk(std::int32_t stream, std::string_view data) {
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (s && !s->rejected) {
    if (!s->final_seen) {
      reject(*s, NGHTTP2_PROTOCOL_ERROR, "DATA before the final response");
    } else if (!s->body_allowed) {
      if (!data.empty()) reject(*s, NGHTTP2_PROTOCOL_ERROR, "DATA in a response without content");
    } else {
      s->body_received += data.size();
      if (s->content_length && s->body_received > *s->content_length) {
        reject(*s, NGHTTP2_PROTOCOL_ERROR, "DATA beyond content-length");
      } else {
        s->unconsumed += data.size();
        handler_.on_data(s->id, data);
        return 0;
      }
    }
  }
  // Nobody will consume these: give the windows back at once.
  nghttp2_session_consume(session_, stream, data.size());
  return 0;
}

int ClientConnection::on_stream_closed(std::int32_t stream, std::uint32_t error_code) {
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s) return 0;
  // Body bytes the owner still holds no longer count against the connection window.
  if (s->unconsumed) nghttp2_session_consume_connection(session_, s->unconsumed);
  // nghttp2 closes a stream whose both ends saw END_STREAM with NO_ERROR even when we have just
  // reset it: report the codec's code then.
  const std::uint32_t code = s->close_code.value_or(error_code);
  const std::uint32_t id = s->id;
  release(s);
  handler_.on_stream_close(id, code);
  return 0;
}

// ---- send side ----------------------------------------------------------------------------------

long ClientConnection::send_bytes(const std::uint8_t* data, std::size_t length) {
  if (produced_ >= produce_max_) return NGHTTP2_ERR_WOULDBLOCK;
  out_->append(reinterpret_cast<const char*>(data), length);
  produced_ += length;
  return static_cast<long>(length);
}

long ClientConnection::read_data(std::int32_t stream, std::size_t length, std::uint32_t* flags) {
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const long n = s->body.read(length, flags, nva_);
  if (!nva_.empty() && nghttp2_submit_trailer(session_, stream, nva_.data(), nva_.size()) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return n;
}

int ClientConnection::send_data(const std::uint8_t* framehd, std::int32_t stream, std::size_t length) {
  if (produced_ >= produce_max_) return NGHTTP2_ERR_WOULDBLOCK;
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s || s->body.queued() < length) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  out_->append(reinterpret_cast<const char*>(framehd), kFrameHeader);  // no padding is ever chosen
  produced_ += kFrameHeader + length;
  if (s->body.send(*out_, length, settings_.max_queued_per_stream)) writable_.push_back(s->id);
  return 0;
}

int ClientConnection::on_frame_sent(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_HEADERS && frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (Stream* s = find(static_cast<std::uint32_t>(frame.hd.stream_id))) s->sent = true;
  } else if (frame.hd.type == NGHTTP2_GOAWAY) {
    goaway_sent_ = true;
    if (frame.goaway.error_code != NGHTTP2_NO_ERROR && !fatal_) {
      // A connection error nghttp2 found on its own (it queued this GOAWAY and stops reading).
      fatal_ = true;
      close_code_ = frame.goaway.error_code;
      if (failure_ == ClientFailure::none) failure_ = ClientFailure::protocol_error;
    }
  }
  return 0;
}

// ---- owner API ----------------------------------------------------------------------------------

void ClientConnection::build_request_nva(std::string_view method, std::string_view scheme, std::string_view authority,
                                         std::string_view path, std::span<const http::Header> headers) {
  nva_.clear();
  nv_names_.clear();
  const bool has_connection = has_connection_field(headers);
  std::size_t names = 0;
  for (const http::Header& h : headers) names += h.name.size();
  nv_names_.reserve(names);  // no reallocation below: nv entries point into it
  nva_.push_back(make_nv(":method", method));
  nva_.push_back(make_nv(":scheme", scheme));
  if (!authority.empty()) nva_.push_back(make_nv(":authority", authority));
  nva_.push_back(make_nv(":path", path));
  for (const http::Header& h : headers) {
    if (dropped_request_field(headers, h, has_connection)) continue;
    const std::size_t off = nv_names_.size();
    for (char c : h.name) nv_names_.push_back(http::ascii_lower(c));  // within the reserved capacity
    nva_.push_back(make_nv({nv_names_.data() + off, h.name.size()}, h.value));
    // A value unique to each request would only churn the server's HPACK table (and ours).
    if (http::iequals(h.name, "x-request-id")) nva_.back().flags = NGHTTP2_NV_FLAG_NO_INDEX;
  }
}

std::optional<std::uint32_t> ClientConnection::submit_request(std::string_view method, std::string_view scheme,
                                                              std::string_view authority, std::string_view path,
                                                              std::span<const http::Header> headers, bool end_stream) {
  if (!can_open()) return std::nullopt;
  build_request_nva(method, scheme, authority, path, headers);
  nghttp2_data_provider provider{};
  provider.read_callback = &ClientCallbacks::read;
  const std::int32_t id =
      nghttp2_submit_request(session_, nullptr, nva_.data(), nva_.size(), end_stream ? nullptr : &provider, nullptr);
  if (id <= 0) return std::nullopt;
  Stream* s = acquire(static_cast<std::uint32_t>(id));
  s->head = method == "HEAD";
  s->has_body = !end_stream;
  if (end_stream) s->body.end();
  return s->id;
}

void ClientConnection::resume(Stream& s) {
  if (!s.body.take_deferred()) return;
  nghttp2_session_resume_data(session_, static_cast<std::int32_t>(s.id));
}

bool ClientConnection::submit_data(std::uint32_t stream, std::string_view data, bool end_stream) {
  Stream* s = find(stream);
  if (!s || s->rejected || !s->has_body || s->body.ended() || fatal_) return false;
  s->body.append(data, end_stream, settings_.max_queued_per_stream);
  resume(*s);
  return true;
}

bool ClientConnection::submit_trailers(std::uint32_t stream, std::span<const http::Header> trailers) {
  Stream* s = find(stream);
  if (!s || s->rejected || !s->has_body || s->body.ended() || fatal_) return false;
  s->body.end_with_trailers(trailers, dropped_request_field);
  resume(*s);
  return true;
}

std::size_t ClientConnection::queued(std::uint32_t stream) const {
  const Stream* s = find(stream);
  return s ? s->body.queued() : 0;
}

void ClientConnection::consume(std::uint32_t stream, std::size_t n) {
  Stream* s = find(stream);
  if (!s || fatal_) return;
  n = std::min(n, s->unconsumed);
  if (n == 0) return;
  s->unconsumed -= n;
  nghttp2_session_consume(session_, static_cast<std::int32_t>(stream), n);
}

void ClientConnection::reset(std::uint32_t stream, std::uint32_t error_code) {
  Stream* s = find(stream);
  if (!s || s->rejected || fatal_) return;
  s->rejected = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, static_cast<std::int32_t>(stream), error_code);
}

void ClientConnection::goaway(bool graceful) {
  if (!session_ || fatal_) return;
  if (graceful) {
    if (goaway_sent_) return;
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    return;
  }
  goaway_sent_ = true;
  fatal_ = true;
  close_code_ = error::cancel;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
}

void ClientConnection::connection_lost(std::uint32_t error_code) {
  fatal_ = true;
  lost_ = true;
  close_all(error_code);
}

}  // namespace rampart::h2
