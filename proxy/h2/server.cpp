#include "h2/server.hpp"

#include "h2/outbound.hpp"
#include "http/forward.hpp"

#include <algorithm>
#include <cstring>

namespace rampart::h2 {

namespace {

constexpr std::size_t kFrameHeader = 9;
constexpr std::size_t kMaxFrame = 16384;           // SETTINGS_MAX_FRAME_SIZE we keep (the default)
constexpr std::size_t kMaxFreeStreams = 16;

// Fields never sent on HTTP/2: hop-by-hop ones, those named in Connection, and anything that
// looks like a pseudo-header.
bool dropped(std::span<const http::Header> headers, const http::Header& h, bool has_connection) noexcept {
  if (h.name.empty() || h.name[0] == ':') return true;
  if (http::is_hop_by_hop(h.name)) return true;
  return has_connection && listed_in_connection(headers, h.name);
}


}  // namespace

// Codec state of one stream, from its first HEADERS until nghttp2 closes it. Recycled.
struct ServerConnection::Stream {
  std::uint32_t id = 0;
  Stream* prev = nullptr;
  Stream* next = nullptr;
  // Request side.
  bool delivered = false;        // on_request was called: on_stream_close will be too
  bool rejected = false;         // reset or answered by the codec (or reset by the owner): no more calls
  bool reset_accounted = false;  // its RST_STREAM is not (or already) counted against the reset budget
  bool request_done = false;     // END_STREAM received
  std::optional<std::uint64_t> content_length;
  std::uint64_t body_received = 0;
  std::size_t unconsumed = 0;    // delivered to on_data, not yet consume()d
  // Response side.
  bool final_sent = false;       // a final response was submitted
  bool reset_when_sent = false;  // RST_STREAM(NO_ERROR) once the response's END_STREAM went out
  bool end_sent = false;         // the response's END_STREAM went out
  OutboundBody body;             // the response body and trailers

  void reset(std::uint32_t stream_id) {
    id = stream_id;
    prev = next = nullptr;
    delivered = rejected = reset_accounted = request_done = false;
    content_length.reset();
    body_received = 0;
    unconsumed = 0;
    final_sent = reset_when_sent = end_sent = false;
    body.clear();
  }
};

// Static trampolines from nghttp2's C callbacks to the connection.
struct Callbacks {
  static ServerConnection& self(void* user) { return *static_cast<ServerConnection*>(user); }

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
    return self(user).on_begin_frame(hd->type, hd->flags, hd->stream_id, hd->length);
  }
  static int begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user).on_begin_headers(frame->hd.stream_id, frame->headers.cat);
  }
  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    return self(user).on_header(frame->hd.stream_id, frame->headers.cat,
                                {reinterpret_cast<const char*>(name), namelen},
                                {reinterpret_cast<const char*>(value), valuelen});
  }
  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    const int cat = frame->hd.type == NGHTTP2_HEADERS ? frame->headers.cat : -1;
    return self(user).on_frame_recv(frame->hd.type, frame->hd.flags, frame->hd.stream_id, cat);
  }
  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream, const std::uint8_t* data,
                        std::size_t len, void* user) {
    return self(user).on_data_chunk(stream, {reinterpret_cast<const char*>(data), len});
  }
  static int stream_close(nghttp2_session*, std::int32_t stream, std::uint32_t error_code, void* user) {
    return self(user).on_stream_closed(stream, error_code);
  }
  static int frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    std::uint32_t code = 0;
    if (frame->hd.type == NGHTTP2_RST_STREAM) code = frame->rst_stream.error_code;
    if (frame->hd.type == NGHTTP2_GOAWAY) code = frame->goaway.error_code;
    return self(user).on_frame_sent(frame->hd.type, frame->hd.flags, frame->hd.stream_id, code);
  }
};

Detect detect_preface(std::string_view first_bytes) noexcept {
  const std::size_t n = std::min(first_bytes.size(), kPreface.size());
  if (first_bytes.substr(0, n) != kPreface.substr(0, n)) return Detect::http1;
  return n == kPreface.size() ? Detect::h2 : Detect::need_more;
}

const char* to_string(Abuse a) noexcept {
  switch (a) {
    case Abuse::none: return "none";
    case Abuse::rapid_reset: return "rapid_reset";
    case Abuse::stream_rate: return "stream_rate";
    case Abuse::continuation_flood: return "continuation_flood";
    case Abuse::header_list_too_large: return "header_list_too_large";
    case Abuse::control_flood: return "control_flood";
    case Abuse::protocol_error: return "protocol_error";
  }
  return "unknown";
}

ServerConnection::ServerConnection(const Settings& s, Handler& handler)
    : settings_(s), handler_(handler), block_(s.max_header_list_size) {
  // Window sizes are 31-bit in HTTP/2; larger values would make nghttp2 refuse the SETTINGS.
  constexpr std::uint32_t kMaxWindow = 0x7fffffffu;
  settings_.initial_window_size = std::min(settings_.initial_window_size, kMaxWindow);
  settings_.connection_window_size = std::min(settings_.connection_window_size, kMaxWindow);
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) {
    // Out of memory at connection set-up: a connection that is done from the start.
    if (cbs) nghttp2_session_callbacks_del(cbs);
    fatal_ = true;
    abuse_ = Abuse::protocol_error;
    return;
  }
  nghttp2_session_callbacks_set_send_callback(cbs, &Callbacks::send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &Callbacks::send_data);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::frame_send);

  // Request bodies are acknowledged by consume(), not on receipt.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // No RFC 7540 priority tree: closed streams need not be kept.
  nghttp2_option_set_no_closed_streams(opt, 1);
  // Debian's nghttp2 1.52 carries the upstream CVE-2023-44487 / CVE-2024-28182 mitigations. Our
  // own bounds (Settings) are the policy: set the library's just above ours (continuations) or
  // out of reach (reset rate) so ours fire first and abuse() names the cause.
  nghttp2_option_set_max_continuations(opt, settings_.max_continuations + 1);
  nghttp2_option_set_stream_reset_rate_limit(opt, std::uint64_t{1} << 40, std::uint64_t{1} << 20);

  const int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rv != 0) {
    session_ = nullptr;
    fatal_ = true;
    abuse_ = Abuse::protocol_error;
    return;
  }
  const nghttp2_settings_entry entries[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams},
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

ServerConnection::~ServerConnection() {
  if (session_) nghttp2_session_del(session_);  // calls no stream-close callbacks
  while (active_) {
    Stream* s = active_;
    active_ = s->next;
    delete s;
  }
}

ServerConnection::Stream* ServerConnection::find(std::uint32_t id) const {
  if (!session_ || id == 0 || id > 0x7fffffffu) return nullptr;
  return static_cast<Stream*>(nghttp2_session_get_stream_user_data(session_, static_cast<std::int32_t>(id)));
}

ServerConnection::Stream* ServerConnection::acquire(std::uint32_t id) {
  std::unique_ptr<Stream> s;
  if (!free_.empty()) {
    s = std::move(free_.back());
    free_.pop_back();
  } else {
    s = std::make_unique<Stream>();
  }
  s->reset(id);
  Stream* p = s.release();
  p->next = active_;
  if (active_) active_->prev = p;
  active_ = p;
  ++open_;
  nghttp2_session_set_stream_user_data(session_, static_cast<std::int32_t>(id), p);
  return p;
}

void ServerConnection::release(Stream* s) {
  if (s->prev) s->prev->next = s->next;
  else active_ = s->next;
  if (s->next) s->next->prev = s->prev;
  --open_;
  nghttp2_session_set_stream_user_data(session_, static_cast<std::int32_t>(s->id), nullptr);
  std::unique_ptr<Stream> owned(s);
  if (free_.size() < kMaxFreeStreams) {
    owned->reset(0);
    free_.push_back(std::move(owned));
  }
}

void ServerConnection::roll_window() {
  if (now_ - window_start_ < settings_.window) return;
  window_start_ = now_;
  resets_ = new_streams_ = control_ = window_updates_ = data_sent_ = 0;
}

int ServerConnection::flag(Abuse a) {
  if (abuse_ == Abuse::none) abuse_ = a;
  if (!fatal_) nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  fatal_ = true;
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

bool ServerConnection::receive(std::string_view in, std::chrono::steady_clock::time_point now) {
  if (fatal_ || !session_) return false;
  now_ = now;
  if (window_start_ == std::chrono::steady_clock::time_point{}) window_start_ = now;
  const auto rv =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
  if (rv < 0) {
    if (!fatal_) {  // nghttp2's own verdict (our bounds set fatal_ before returning a failure)
      const bool flood = rv == NGHTTP2_ERR_FLOODED;
      if (abuse_ == Abuse::none) abuse_ = flood ? Abuse::control_flood : Abuse::protocol_error;
      nghttp2_session_terminate_session(session_, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      fatal_ = true;
    }
    return false;
  }
  if (fatal_) return false;  // a bound tripped in a callback that could not fail the call
  if (!nghttp2_session_want_read(session_)) {
    // Either a GOAWAY exchange completed, or nghttp2 found a connection error and queued GOAWAY.
    if (abuse_ == Abuse::none && !goaway_requested_ && !peer_goaway_) abuse_ = Abuse::protocol_error;
    fatal_ = true;
    return false;
  }
  return true;
}

std::size_t ServerConnection::produce(std::string& out, std::size_t max) {
  if (!session_) return 0;
  out_ = &out;
  produced_ = 0;
  produce_max_ = max;
  const int rv = nghttp2_session_send(session_);
  out_ = nullptr;
  if (rv != 0) {
    fatal_ = true;
    if (abuse_ == Abuse::none) abuse_ = Abuse::protocol_error;
  }
  if (!writable_.empty()) {
    // Reported after nghttp2_session_send returned, so the handler may submit freely.
    for (std::size_t i = 0; i < writable_.size(); ++i)
      if (find(writable_[i])) handler_.on_writable(writable_[i]);
    writable_.clear();
  }
  return produced_;
}

bool ServerConnection::want_write() const { return session_ && nghttp2_session_want_write(session_) != 0; }

bool ServerConnection::done() const {
  if (!session_) return true;
  return nghttp2_session_want_write(session_) == 0 && (fatal_ || nghttp2_session_want_read(session_) == 0);
}

// ---- receive side ------------------------------------------------------------------------------

int ServerConnection::on_begin_frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, std::size_t length) {
  roll_window();
  switch (type) {
    case NGHTTP2_HEADERS:
      block_bytes_ = length;
      continuations_ = 0;
      if (stream > highest_stream_) {
        highest_stream_ = stream;
        if (++new_streams_ > settings_.max_streams_per_window) return flag(Abuse::stream_rate);
      }
      break;
    case NGHTTP2_CONTINUATION:
      block_bytes_ += length;
      if (++continuations_ > settings_.max_continuations) return flag(Abuse::continuation_flood);
      break;
    case NGHTTP2_RST_STREAM:
      if (++resets_ > settings_.max_resets_per_window) return flag(Abuse::rapid_reset);
      break;
    case NGHTTP2_DATA:
      if (length == 0 && !(flags & NGHTTP2_FLAG_END_STREAM) && ++control_ > settings_.max_control_frames_per_window)
        return flag(Abuse::control_flood);
      break;
    case NGHTTP2_WINDOW_UPDATE:
      if (++window_updates_ > settings_.max_control_frames_per_window + 2ull * data_sent_)
        return flag(Abuse::control_flood);
      break;
    case NGHTTP2_GOAWAY:
      break;
    default:  // PING, SETTINGS, PRIORITY, PUSH_PROMISE (unknown types never get here)
      if (++control_ > settings_.max_control_frames_per_window) return flag(Abuse::control_flood);
      break;
  }
  if ((type == NGHTTP2_HEADERS || type == NGHTTP2_CONTINUATION) &&
      block_bytes_ > std::uint64_t{settings_.max_header_list_size} + kMaxFrame)
    return flag(Abuse::header_list_too_large);
  return 0;
}

int ServerConnection::on_begin_headers(std::int32_t stream, int category) {
  block_stream_ = stream;
  if (category == NGHTTP2_HCAT_REQUEST) {
    acquire(static_cast<std::uint32_t>(stream));
    block_.start(HeaderBlock::Kind::request);
  } else {
    block_.start(HeaderBlock::Kind::trailers);
  }
  return 0;
}

int ServerConnection::on_header(std::int32_t stream, int category, std::string_view name, std::string_view value) {
  if (stream != block_stream_) return 0;
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s || s->rejected) return 0;
  block_.add(name, value);
  if (block_.verdict() != HeaderBlock::Verdict::malformed) return 0;
  // Malformed: reset now and let nghttp2 skip (but still decode) the rest of the block.
  s->rejected = true;
  s->reset_accounted = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_PROTOCOL_ERROR);
  roll_window();
  if (++resets_ > settings_.max_resets_per_window) return flag(Abuse::rapid_reset);
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

void ServerConnection::reject(Stream& s, std::uint32_t error_code) {
  s.rejected = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, static_cast<std::int32_t>(s.id), error_code);
  if (!s.reset_accounted) {
    s.reset_accounted = true;
    roll_window();
    if (++resets_ > settings_.max_resets_per_window) flag(Abuse::rapid_reset);
  }
}

void ServerConnection::end_request(Stream& s) {
  if (s.content_length && s.body_received != *s.content_length) return reject(s, NGHTTP2_PROTOCOL_ERROR);
  s.request_done = true;
  handler_.on_end_stream(s.id);
}

int ServerConnection::on_frame_recv(std::uint8_t type, std::uint8_t flags, std::int32_t stream, int category) {
  if (type == NGHTTP2_GOAWAY) {
    peer_goaway_ = true;
    return 0;
  }
  if (type != NGHTTP2_HEADERS && type != NGHTTP2_DATA) return 0;
  Stream* s = find(static_cast<std::uint32_t>(stream));
  const bool end_stream = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (type == NGHTTP2_HEADERS) {
    block_bytes_ = 0;
    if (!s || s->rejected || stream != block_stream_) return 0;
    if (category == NGHTTP2_HCAT_REQUEST) {
      Request req;
      switch (block_.finish(req)) {
        case HeaderBlock::Verdict::ok:
          break;
        case HeaderBlock::Verdict::too_large: {
          // Answered here (RFC 6585 431); counted like a refused stream.
          s->rejected = true;
          s->final_sent = true;
          s->body.end();
          build_nva(431, {});
          nghttp2_submit_response(session_, stream, nva_.data(), nva_.size(), nullptr);
          roll_window();
          if (++resets_ > settings_.max_resets_per_window) return flag(Abuse::rapid_reset);
          return 0;
        }
        case HeaderBlock::Verdict::connect:
          reject(*s, NGHTTP2_REFUSED_STREAM);
          return fatal_ ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
        case HeaderBlock::Verdict::malformed:
          reject(*s, NGHTTP2_PROTOCOL_ERROR);
          return fatal_ ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
      }
      // END_STREAM on the HEADERS with a non-zero content-length is malformed (RFC 9113 §8.1.1).
      if (end_stream && req.content_length && *req.content_length != 0) {
        reject(*s, NGHTTP2_PROTOCOL_ERROR);
        return fatal_ ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
      }
      req.stream = s->id;
      req.end_stream = end_stream;
      s->content_length = req.content_length;
      s->delivered = true;
      s->request_done = end_stream;
      handler_.on_request(std::move(req));
      return 0;
    }
    // Trailers: validated and dropped; they must end the stream.
    const HeaderBlock::Verdict v = block_.finish_trailers();
    if (v == HeaderBlock::Verdict::too_large) reject(*s, NGHTTP2_ENHANCE_YOUR_CALM);
    else if (v != HeaderBlock::Verdict::ok || !end_stream) reject(*s, NGHTTP2_PROTOCOL_ERROR);
    else if (s->delivered) end_request(*s);
    return fatal_ ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
  }
  // DATA
  if (end_stream && s && !s->rejected && s->delivered && !s->request_done) end_request(*s);
  return fatal_ ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

int ServerConnection::on_data_chunk(std::int32_t stream, std::string_view data) {
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s || s->rejected || !s->delivered) {
    // Nobody will consume these: give the window back at once.
    nghttp2_session_consume(session_, stream, data.size());
    return 0;
  }
  s->body_received += data.size();
  if (s->content_length && s->body_received > *s->content_length) {
    nghttp2_session_consume(session_, stream, data.size());
    reject(*s, NGHTTP2_PROTOCOL_ERROR);
    return fatal_ ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
  }
  s->unconsumed += data.size();
  handler_.on_data(s->id, data);
  return 0;
}

int ServerConnection::on_stream_closed(std::int32_t stream, std::uint32_t error_code) {
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s) return 0;
  // Body bytes the owner still holds no longer count against the connection window.
  if (s->unconsumed) nghttp2_session_consume_connection(session_, s->unconsumed);
  const bool delivered = s->delivered;
  const std::uint32_t id = s->id;
  release(s);
  if (delivered) handler_.on_stream_close(id, error_code);
  return 0;
}

// ---- send side ---------------------------------------------------------------------------------

long ServerConnection::send_bytes(const std::uint8_t* data, std::size_t length) {
  if (produced_ >= produce_max_) return NGHTTP2_ERR_WOULDBLOCK;
  out_->append(reinterpret_cast<const char*>(data), length);
  produced_ += length;
  return static_cast<long>(length);
}

long ServerConnection::read_data(std::int32_t stream, std::size_t length, std::uint32_t* flags) {
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const long n = s->body.read(length, flags, nva_);
  if (!nva_.empty() && nghttp2_submit_trailer(session_, stream, nva_.data(), nva_.size()) != 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  return n;
}

int ServerConnection::send_data(const std::uint8_t* framehd, std::int32_t stream, std::size_t length) {
  if (produced_ >= produce_max_) return NGHTTP2_ERR_WOULDBLOCK;
  Stream* s = find(static_cast<std::uint32_t>(stream));
  if (!s || s->body.queued() < length) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  out_->append(reinterpret_cast<const char*>(framehd), kFrameHeader);  // no padding is ever chosen
  produced_ += kFrameHeader + length;
  if (s->body.send(*out_, length, settings_.max_queued_per_stream)) writable_.push_back(s->id);
  return 0;
}

int ServerConnection::on_frame_sent(std::uint8_t type, std::uint8_t flags, std::int32_t stream,
                                    std::uint32_t error_code) {
  if ((type == NGHTTP2_DATA || type == NGHTTP2_HEADERS) && (flags & NGHTTP2_FLAG_END_STREAM)) {
    // The response ended: a request body the owner gave up on is refused now (RFC 9113 8.1).
    Stream* s = find(static_cast<std::uint32_t>(stream));
    if (s) s->end_sent = true;
    if (s && s->reset_when_sent && !s->request_done) {
      s->rejected = true;
      s->reset_accounted = true;
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_NO_ERROR);
    }
  }
  if (type == NGHTTP2_DATA) {
    ++data_sent_;
  } else if (type == NGHTTP2_RST_STREAM && error_code != NGHTTP2_NO_ERROR) {
    // Resets nghttp2 decided on its own (refused streams, stream errors it detected) are the
    // client's doing: count them. Ours and the owner's were accounted when submitted.
    const Stream* s = find(static_cast<std::uint32_t>(stream));
    if (!s || !s->reset_accounted) {
      roll_window();
      if (++resets_ > settings_.max_resets_per_window) flag(Abuse::rapid_reset);
    }
  } else if (type == NGHTTP2_GOAWAY && error_code != NGHTTP2_NO_ERROR && abuse_ == Abuse::none) {
    abuse_ = Abuse::protocol_error;
  }
  return 0;
}

// ---- owner API ---------------------------------------------------------------------------------

void ServerConnection::build_nva(int status, std::span<const http::Header> headers) {
  nva_.clear();
  nv_names_.clear();
  const bool has_connection = has_connection_field(headers);
  std::size_t names = 0;
  for (const http::Header& h : headers) names += h.name.size();
  nv_names_.reserve(names);  // no reallocation below: nv entries point into it
  if (status) {
    status_[0] = static_cast<char>('0' + status / 100 % 10);
    status_[1] = static_cast<char>('0' + status / 10 % 10);
    status_[2] = static_cast<char>('0' + status % 10);
    nva_.push_back(make_nv(":status", {status_, 3}));
  }
  for (const http::Header& h : headers) {
    if (dropped(headers, h, has_connection)) continue;
    const std::size_t off = nv_names_.size();
    nv_names_.resize(off + h.name.size());  // within the reserved capacity: no reallocation
    char* dst = nv_names_.data() + off;
    for (std::size_t i = 0; i < h.name.size(); ++i) dst[i] = http::ascii_lower(h.name[i]);
    nva_.push_back(make_nv({nv_names_.data() + off, h.name.size()}, h.value));
    // A value unique to each response would only churn the client's HPACK table (and ours).
    if (h.name.size() == 12 && http::iequals(h.name, "x-request-id")) nva_.back().flags = NGHTTP2_NV_FLAG_NO_INDEX;
  }
}

void ServerConnection::resume(Stream& s) {
  if (!s.body.take_deferred()) return;
  nghttp2_session_resume_data(session_, static_cast<std::int32_t>(s.id));
}

bool ServerConnection::submit_response(std::uint32_t stream, int status, std::span<const http::Header> headers,
                                       bool end_stream) {
  Stream* s = find(stream);
  if (!s || !s->delivered || s->rejected || s->final_sent || fatal_) return false;
  if (status < 100 || status > 999 || status == 101) return false;
  build_nva(status, headers);
  const auto id = static_cast<std::int32_t>(stream);
  if (status < 200)
    return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nva_.data(), nva_.size(), nullptr) == 0;
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::read;
  const int rv = nghttp2_submit_response(session_, id, nva_.data(), nva_.size(), end_stream ? nullptr : &provider);
  if (rv != 0) return false;
  s->final_sent = true;
  if (end_stream) s->body.end();
  return true;
}

bool ServerConnection::submit_data(std::uint32_t stream, std::string_view data, bool end_stream) {
  Stream* s = find(stream);
  if (!s || s->rejected || !s->final_sent || s->body.ended() || fatal_) return false;
  s->body.append(data, end_stream, settings_.max_queued_per_stream);
  resume(*s);
  return true;
}

bool ServerConnection::submit_trailers(std::uint32_t stream, std::span<const http::Header> trailers) {
  Stream* s = find(stream);
  if (!s || s->rejected || !s->final_sent || s->body.ended() || fatal_) return false;
  s->body.end_with_trailers(trailers, dropped);
  resume(*s);
  return true;
}

std::size_t ServerConnection::queued(std::uint32_t stream) const {
  const Stream* s = find(stream);
  return s ? s->body.queued() : 0;
}

void ServerConnection::reset(std::uint32_t stream, std::uint32_t error_code) {
  Stream* s = find(stream);
  if (!s || fatal_) return;
  s->rejected = true;
  s->reset_accounted = true;  // the owner's decision, not the client's
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, static_cast<std::int32_t>(stream), error_code);
}

void ServerConnection::reset_after_response(std::uint32_t stream) {
  Stream* s = find(stream);
  if (!s || fatal_ || s->request_done) return;
  if (s->end_sent) {
    reset(stream, NGHTTP2_NO_ERROR);
    return;
  }
  s->reset_when_sent = true;
}

void ServerConnection::consume(std::uint32_t stream, std::size_t n) {
  Stream* s = find(stream);
  if (!s) return;
  n = std::min(n, s->unconsumed);
  if (n == 0) return;
  s->unconsumed -= n;
  nghttp2_session_consume(session_, static_cast<std::int32_t>(stream), n);
}

void ServerConnection::goaway(bool graceful) {
  if (!session_ || fatal_) return;
  goaway_requested_ = true;
  if (graceful) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
  } else {
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  }
}

}  // namespace rampart::h2
