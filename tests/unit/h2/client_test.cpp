// Tests of the HTTP/2 client codec, all in memory:
// - against the project's own ServerConnection (the well-behaved upstream), pumping bytes both
//   ways until quiet;
// - against RawServer, a hand-made server writing frames byte by byte (for what the server codec
//   would never send: malformed responses, PUSH_PROMISE, oversized header blocks), decoding the
//   client's header blocks with nghttp2's HPACK inflater.

#include "h2/client.hpp"
#include "h2/server.hpp"

#include <nghttp2/nghttp2.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace h2ctest {

using namespace rampart;
using Clock = std::chrono::steady_clock;
using Fields = std::vector<std::pair<std::string, std::string>>;

Fields to_fields(std::span<const http::Header> hs) {
  Fields f;
  for (const http::Header& h : hs) f.emplace_back(std::string(h.name), std::string(h.value));
  return f;
}

// What the client codec reports, per stream.
struct ClientRec : h2::ClientConnection::Handler {
  struct Seen {
    int status = 0;
    std::vector<int> interim;
    Fields headers, trailers;
    std::string body;
    std::size_t unconsumed = 0;
    bool ended = false, closed = false;
    std::uint32_t code = 0;
    std::string malformed;
  };
  std::map<std::uint32_t, Seen> streams;
  std::vector<std::uint32_t> writable;
  std::vector<std::uint32_t> close_order;
  std::size_t held = 0;  // unconsumed bytes of all streams
  std::function<void(std::uint32_t, std::uint32_t)> on_close;

  void on_response(std::uint32_t s, int status, std::span<const http::Header> h) override {
    Seen& st = streams[s];
    CHECK(st.status == 0);
    CHECK_FALSE(st.closed);
    st.status = status;
    st.headers = to_fields(h);
  }
  void on_informational(std::uint32_t s, int status, std::span<const http::Header>) override {
    CHECK(streams[s].status == 0);
    streams[s].interim.push_back(status);
  }
  void on_data(std::uint32_t s, std::string_view d) override {
    Seen& st = streams[s];
    CHECK(st.status >= 200);
    CHECK_FALSE(st.ended);
    st.body.append(d);
    st.unconsumed += d.size();
    held += d.size();
  }
  void on_trailers(std::uint32_t s, std::span<const http::Header> t) override {
    CHECK_FALSE(streams[s].ended);
    streams[s].trailers = to_fields(t);
  }
  void on_end_stream(std::uint32_t s) override {
    Seen& st = streams[s];
    CHECK_FALSE(st.ended);
    CHECK_FALSE(st.closed);
    st.ended = true;
  }
  void on_stream_close(std::uint32_t s, std::uint32_t code) override {
    Seen& st = streams[s];
    CHECK_FALSE(st.closed);  // exactly once
    st.closed = true;
    st.code = code;
    held -= st.unconsumed;  // the codec gave those back
    st.unconsumed = 0;
    close_order.push_back(s);
    if (on_close) on_close(s, code);
  }
  void on_writable(std::uint32_t s) override { writable.push_back(s); }
  void on_malformed(std::uint32_t s, const char* reason) override { streams[s].malformed = reason; }

  // Forwards everything held: consume() it all.
  void consume_all(h2::ClientConnection& c) {
    for (auto& [id, st] : streams) {
      if (st.unconsumed == 0) continue;
      c.consume(id, st.unconsumed);
      held -= st.unconsumed;
      st.unconsumed = 0;
    }
  }
};

// What the server codec reports.
struct ServerRec : h2::ServerConnection::Handler {
  std::vector<h2::Request> requests;
  std::map<std::uint32_t, std::string> bodies;
  std::map<std::uint32_t, std::size_t> unconsumed;
  std::set<std::uint32_t> ended;
  std::map<std::uint32_t, std::uint32_t> closed;
  std::function<void(const h2::Request&)> on_req;
  std::function<void(std::uint32_t)> on_end;

  void on_request(h2::Request&& r) override {
    requests.push_back(std::move(r));
    if (on_req) on_req(requests.back());
  }
  void on_data(std::uint32_t s, std::string_view d) override {
    bodies[s].append(d);
    unconsumed[s] += d.size();
  }
  void on_end_stream(std::uint32_t s) override {
    ended.insert(s);
    if (on_end) on_end(s);
  }
  void on_stream_close(std::uint32_t s, std::uint32_t code) override { closed[s] = code; }
  const h2::Request* request(std::uint32_t s) const {
    for (const auto& r : requests)
      if (r.stream == s) return &r;
    return nullptr;
  }
};

// Moves bytes both ways until quiet, calling `check` after every round. Returns the client's last
// receive() result.
bool pump(h2::ClientConnection& c, h2::ServerConnection& s, const std::function<void()>& check = {}) {
  bool alive = true;
  for (int i = 0; i < 100000; ++i) {
    std::string up;
    while (c.produce(up) != 0) {
    }
    if (!up.empty()) s.receive(up, Clock::now());
    std::string down;
    while (s.produce(down) != 0) {
    }
    if (!down.empty() && alive) alive = c.receive(down);
    if (check) check();
    if (up.empty() && down.empty()) break;
  }
  return alive;
}

nghttp2_nv nv(const std::string& n, const std::string& v) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
}

// A hand-made HTTP/2 server: frames out byte by byte, the client's frames parsed and its header
// blocks decoded.
struct RawServer {
  struct Frame {
    std::uint8_t type = 0, flags = 0;
    std::int32_t stream = 0;
    std::string payload;
  };
  nghttp2_hd_deflater* def = nullptr;
  nghttp2_hd_inflater* inf = nullptr;
  std::string out, in;
  bool preface = false;
  std::vector<Frame> frames;                                      // from the client
  std::map<std::int32_t, std::vector<Fields>> blocks;             // decoded header blocks, per stream
  std::map<std::int32_t, std::string> data;                       // DATA payloads, per stream
  std::vector<std::pair<std::uint16_t, std::uint32_t>> settings;  // the client's first SETTINGS

  RawServer() {
    REQUIRE(nghttp2_hd_deflate_new(&def, 4096) == 0);
    REQUIRE(nghttp2_hd_inflate_new(&inf) == 0);
    frame(NGHTTP2_SETTINGS, 0, 0, "");
  }
  ~RawServer() {
    nghttp2_hd_deflate_del(def);
    nghttp2_hd_inflate_del(inf);
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  static std::string be32(std::uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
    return s;
  }
  static std::uint32_t get32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
  }
  void frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream, std::string_view payload) {
    const std::size_t len = payload.size();
    const char h[9] = {
        static_cast<char>(len >> 16),    static_cast<char>(len >> 8),    static_cast<char>(len),
        static_cast<char>(type),         static_cast<char>(flags),       static_cast<char>((stream >> 24) & 0x7f),
        static_cast<char>(stream >> 16), static_cast<char>(stream >> 8), static_cast<char>(stream)};
    out.append(h, 9);
    out.append(payload);
  }
  // HPACK-encodes `fields` as given (nghttp2's deflater checks neither names nor values).
  std::string block(const Fields& fields) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : fields) nva.push_back(nv(n, v));
    std::string buf(nghttp2_hd_deflate_bound(def, nva.data(), nva.size()), '\0');
    const ssize_t n =
        nghttp2_hd_deflate_hd(def, reinterpret_cast<std::uint8_t*>(buf.data()), buf.size(), nva.data(), nva.size());
    REQUIRE(n >= 0);
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  void headers(std::int32_t stream, const Fields& fields, bool end_stream) {
    headers_split(stream, block(fields), end_stream, 16384);
  }
  // One header block as HEADERS + CONTINUATION frames of at most `chunk` bytes.
  void headers_split(std::int32_t stream, const std::string& blk, bool end_stream, std::size_t chunk) {
    std::size_t off = 0;
    bool first = true;
    do {
      const std::size_t n = std::min(chunk, blk.size() - off);
      const bool last = off + n == blk.size();
      std::uint8_t flags = last ? NGHTTP2_FLAG_END_HEADERS : 0;
      if (first && end_stream) flags |= NGHTTP2_FLAG_END_STREAM;
      frame(first ? NGHTTP2_HEADERS : NGHTTP2_CONTINUATION, flags, stream, std::string_view(blk).substr(off, n));
      off += n;
      first = false;
    } while (off < blk.size());
  }
  void data_frame(std::int32_t stream, std::string_view payload, bool end_stream) {
    frame(NGHTTP2_DATA, end_stream ? NGHTTP2_FLAG_END_STREAM : 0, stream, payload);
  }
  void push_promise(std::int32_t stream, std::int32_t promised, const Fields& request) {
    frame(NGHTTP2_PUSH_PROMISE, NGHTTP2_FLAG_END_HEADERS, stream,
          be32(static_cast<std::uint32_t>(promised)) + block(request));
  }
  void goaway(std::int32_t last, std::uint32_t code) {
    frame(NGHTTP2_GOAWAY, 0, 0, be32(static_cast<std::uint32_t>(last)) + be32(code));
  }
  std::string take() { return std::exchange(out, {}); }

  void feed(std::string_view bytes) {
    in.append(bytes);
    if (!preface) {
      if (in.size() < h2::kPreface.size()) return;
      REQUIRE(in.compare(0, h2::kPreface.size(), h2::kPreface) == 0);
      in.erase(0, h2::kPreface.size());
      preface = true;
    }
    std::size_t pos = 0;
    while (in.size() - pos >= 9) {
      const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
      const std::size_t len = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
      if (in.size() - pos < 9 + len) break;
      Frame f;
      f.type = p[3];
      f.flags = p[4];
      f.stream = static_cast<std::int32_t>(((p[5] & 0x7fu) << 24) | (p[6] << 16) | (p[7] << 8) | p[8]);
      f.payload.assign(in.data() + pos + 9, len);
      pos += 9 + len;
      if (f.type == NGHTTP2_SETTINGS && !(f.flags & NGHTTP2_FLAG_ACK)) {
        if (settings.empty())
          for (std::size_t i = 0; i + 6 <= f.payload.size(); i += 6)
            settings.emplace_back(static_cast<std::uint16_t>((static_cast<unsigned char>(f.payload[i]) << 8) |
                                                             static_cast<unsigned char>(f.payload[i + 1])),
                                  get32(f.payload, i + 2));
        frame(NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, "");
      }
      if (f.type == NGHTTP2_HEADERS) decode(f);
      if (f.type == NGHTTP2_DATA) data[f.stream] += f.payload;
      frames.push_back(std::move(f));
    }
    in.erase(0, pos);
  }
  void decode(const Frame& f) {
    REQUIRE((f.flags & NGHTTP2_FLAG_END_HEADERS));
    REQUIRE_FALSE((f.flags & (NGHTTP2_FLAG_PADDED | NGHTTP2_FLAG_PRIORITY)));
    auto* p = reinterpret_cast<std::uint8_t*>(const_cast<char*>(f.payload.data()));
    std::size_t len = f.payload.size();
    Fields fields;
    for (;;) {
      nghttp2_nv out_nv;
      int iflags = 0;
      const ssize_t n = nghttp2_hd_inflate_hd2(inf, &out_nv, &iflags, p, len, 1);
      REQUIRE(n >= 0);
      p += n;
      len -= static_cast<std::size_t>(n);
      if (iflags & NGHTTP2_HD_INFLATE_EMIT)
        fields.emplace_back(std::string(reinterpret_cast<char*>(out_nv.name), out_nv.namelen),
                            std::string(reinterpret_cast<char*>(out_nv.value), out_nv.valuelen));
      if (iflags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inf);
        break;
      }
      if (n == 0 && len == 0) break;
    }
    blocks[f.stream].push_back(std::move(fields));
  }
  std::optional<std::uint32_t> rst_code(std::int32_t stream) const {
    for (const Frame& f : frames)
      if (f.type == NGHTTP2_RST_STREAM && f.stream == stream) return get32(f.payload, 0);
    return std::nullopt;
  }
  int rst_count(std::int32_t stream) const {
    int n = 0;
    for (const Frame& f : frames) n += f.type == NGHTTP2_RST_STREAM && f.stream == stream;
    return n;
  }
  // The last GOAWAY from the client: {last stream id, error code}.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> goaway_seen() const {
    std::optional<std::pair<std::uint32_t, std::uint32_t>> g;
    for (const Frame& f : frames)
      if (f.type == NGHTTP2_GOAWAY) g = std::make_pair(get32(f.payload, 0) & 0x7fffffffu, get32(f.payload, 4));
    return g;
  }
};

// Sends what the client has to the raw server and back until quiet. Returns the client's last
// receive() result.
bool exchange(h2::ClientConnection& c, RawServer& raw) {
  bool alive = true;
  for (int i = 0; i < 16; ++i) {
    std::string up;
    while (c.produce(up) != 0) {
    }
    if (!up.empty()) raw.feed(up);
    const std::string down = raw.take();
    if (!down.empty() && alive) alive = c.receive(down);
    if (up.empty() && down.empty()) break;
  }
  return alive;
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

bool has(const Fields& f, const std::string& n, const std::string& v) {
  for (const auto& [a, b] : f)
    if (a == n && b == v) return true;
  return false;
}
bool has_name(const Fields& f, const std::string& n) {
  for (const auto& [a, b] : f)
    if (a == n) return true;
  return false;
}
std::string_view find_header(const h2::Request& r, std::string_view name) {
  for (const auto& h : r.headers)
    if (h.name == name) return h.value;
  return {};
}

// gRPC message framing: compressed flag, 4-byte big-endian length, message.
std::string grpc_frame(std::string_view msg) {
  return std::string(1, '\0') + RawServer::be32(static_cast<std::uint32_t>(msg.size())) + std::string(msg);
}

std::uint32_t get(const std::optional<std::uint32_t>& id) {
  REQUIRE(id.has_value());
  return *id;
}

std::span<const http::Header> none() { return {}; }

}  // namespace h2ctest

using namespace h2ctest;

TEST_CASE("h2 client GET gets its response from the server codec", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  srec.on_req = [&](const h2::Request& r) {
    const std::vector<http::Header> hs = {{"Content-Type", "text/plain"}, {"X-Upstream", "a"}};
    REQUIRE(srv.submit_response(r.stream, 200, hs, false));
    REQUIRE(srv.submit_data(r.stream, "hello", true));
  };
  CHECK(c.can_open());
  const std::vector<http::Header> hs = {{"User-Agent", "test/1"},
                                        {"Connection", "keep-alive, X-Hop"},
                                        {"X-Hop", "dropped"},
                                        {"Keep-Alive", "5"},
                                        {"Transfer-Encoding", "chunked"},
                                        {"Upgrade", "h2c"},
                                        {"Proxy-Connection", "x"},
                                        {"Host", "example.com"},
                                        {"TE", "trailers"},
                                        {"Accept", "*/*"},
                                        {"X-Empty", ""}};
  const std::uint32_t id = get(c.submit_request("GET", "https", "example.com", "/a/b?x=1", hs, true));
  CHECK(id == 1);
  CHECK(c.open_streams() == 1);
  REQUIRE(pump(c, srv));

  REQUIRE(srec.requests.size() == 1);
  const h2::Request& r = srec.requests[0];
  CHECK(r.method == "GET");
  CHECK(r.scheme == "https");
  CHECK(r.authority == "example.com");
  CHECK(r.path == "/a/b?x=1");
  CHECK(r.end_stream);
  REQUIRE(r.headers.size() == 4);  // user-agent, te, accept, x-empty: in order, lower-cased
  CHECK(r.headers[0].name == "user-agent");
  CHECK(r.headers[0].value == "test/1");
  CHECK(r.headers[1].name == "te");
  CHECK(r.headers[1].value == "trailers");
  CHECK(r.headers[2].name == "accept");
  CHECK(r.headers[3].name == "x-empty");
  CHECK(r.headers[3].value.empty());

  const auto& st = rec.streams[id];
  CHECK(st.status == 200);
  CHECK(st.headers == Fields{{"content-type", "text/plain"}, {"x-upstream", "a"}});
  CHECK(st.body == "hello");
  CHECK(st.ended);
  CHECK(st.closed);
  CHECK(st.code == h2::error::no_error);
  CHECK(st.malformed.empty());
  CHECK(c.open_streams() == 0);
  CHECK(c.can_open());
  CHECK(c.failure() == h2::ClientFailure::none);
  CHECK_FALSE(c.done());
  CHECK_FALSE(c.want_write());
  // Calls naming the closed stream are ignored.
  CHECK_FALSE(c.submit_data(id, "x", true));
  c.consume(id, 5);
  c.reset(id, h2::error::cancel);
  CHECK_FALSE(c.want_write());
}

TEST_CASE("h2 client announces push disabled and its windows in its first SETTINGS", "[h2][client]") {
  ClientRec rec;
  h2::ClientSettings cs;
  cs.initial_window_size = 100000;
  h2::ClientConnection c(cs, rec);
  RawServer raw;
  REQUIRE(exchange(c, raw));
  CHECK(raw.preface);
  std::map<std::uint16_t, std::uint32_t> s(raw.settings.begin(), raw.settings.end());
  CHECK(s.at(NGHTTP2_SETTINGS_ENABLE_PUSH) == 0);
  CHECK(s.at(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 0);
  CHECK(s.at(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) == 100000);
  CHECK(s.at(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE) == 64 * 1024);
  // The connection window was raised to 1 MiB: one WINDOW_UPDATE on stream 0.
  bool window_update = false;
  for (const auto& f : raw.frames)
    if (f.type == NGHTTP2_WINDOW_UPDATE && f.stream == 0)
      window_update = RawServer::get32(f.payload, 0) == 1024 * 1024 - 65535;
  CHECK(window_update);
}

TEST_CASE("h2 client request header fields are exactly what the server decodes", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const std::vector<http::Header> hs = {{"Content-Type", "application/grpc"},
                                        {"TE", "trailers"},
                                        {"Connection", "x-a"},
                                        {"X-A", "1"},
                                        {"te", "gzip"},
                                        {"HTTP2-Settings", "abc"},
                                        {":path", "/evil"},
                                        {"X-Request-ID", "r1"}};
  const std::uint32_t id = get(c.submit_request("POST", "http", "", "/svc/M", hs, true));
  REQUIRE(exchange(c, raw));
  REQUIRE(raw.blocks[static_cast<std::int32_t>(id)].size() == 1);
  CHECK(raw.blocks[static_cast<std::int32_t>(id)][0] == Fields{{":method", "POST"},
                                                               {":scheme", "http"},
                                                               {":path", "/svc/M"},
                                                               {"content-type", "application/grpc"},
                                                               {"te", "trailers"},
                                                               {"x-request-id", "r1"}});
}

TEST_CASE("h2 client POST of 1 MiB is bounded by the server's windows until it consumes", "[h2][client]") {
  ServerRec srec;
  h2::Settings ss;  // 256 KiB stream window, 1 MiB connection window
  h2::ServerConnection srv(ss, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  const std::string body = pattern(1024 * 1024, 3);
  const std::string length = std::to_string(body.size());
  const std::vector<http::Header> hs = {{"content-length", length}};
  const std::uint32_t id = get(c.submit_request("POST", "https", "example.com", "/upload", hs, false));
  REQUIRE(c.submit_data(id, body, true));
  CHECK(c.queued(id) == body.size());
  CHECK_FALSE(c.submit_data(id, "more", false));  // the body ended

  std::size_t max_held = 0;
  const auto check = [&] {
    max_held = std::max(max_held, srec.unconsumed[id]);
    CHECK(srec.unconsumed[id] <= ss.initial_window_size);
  };
  REQUIRE(pump(c, srv, check));
  CHECK(srec.unconsumed[id] == ss.initial_window_size);  // window full, nothing more until consume
  CHECK(c.queued(id) == body.size() - ss.initial_window_size);
  CHECK(rec.writable.empty());
  for (int round = 0; round < 64 && srec.ended.count(id) == 0; ++round) {
    srv.consume(id, srec.unconsumed[id]);
    srec.unconsumed[id] = 0;
    REQUIRE(pump(c, srv, check));
  }
  CHECK(max_held == ss.initial_window_size);
  REQUIRE(srec.ended.count(id) == 1);
  CHECK(srec.bodies[id] == body);
  CHECK(c.queued(id) == 0);
  REQUIRE(rec.writable.size() == 1);  // the queue fell below 256 KiB once
  CHECK(rec.writable[0] == id);

  REQUIRE(srv.submit_response(id, 201, {}, true));
  REQUIRE(pump(c, srv));
  CHECK(rec.streams[id].status == 201);
  CHECK(rec.streams[id].ended);
  CHECK(rec.streams[id].code == h2::error::no_error);
}

TEST_CASE("h2 client response bodies are bounded by the client's windows until consume", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientSettings cs;  // 256 KiB stream window, 1 MiB connection window
  h2::ClientConnection c(cs, rec);
  std::map<std::uint32_t, std::string> bodies;
  srec.on_req = [&](const h2::Request& r) {
    REQUIRE(srv.submit_response(r.stream, 200, {}, false));
    REQUIRE(srv.submit_data(r.stream, bodies.at(r.stream), true));
  };
  // Six streams of 256 KiB + 1 each: 1.5 MiB in all, more than the connection window.
  std::vector<std::uint32_t> ids;
  for (unsigned i = 0; i < 6; ++i) {
    const std::uint32_t id = get(c.submit_request("GET", "https", "example.com", "/big", none(), true));
    bodies[id] = pattern(256 * 1024 + 1, i);
    ids.push_back(id);
  }
  const auto check = [&] {
    CHECK(rec.held <= cs.connection_window_size);
    for (std::uint32_t id : ids) CHECK(rec.streams[id].unconsumed <= cs.initial_window_size);
  };
  REQUIRE(pump(c, srv, check));
  CHECK(rec.held == cs.connection_window_size);  // the connection window is full
  for (std::uint32_t id : ids) CHECK_FALSE(rec.streams[id].ended);

  for (int round = 0; round < 64; ++round) {
    rec.consume_all(c);
    REQUIRE(pump(c, srv, check));
    bool all = true;
    for (std::uint32_t id : ids) all = all && rec.streams[id].closed;
    if (all) break;
  }
  for (std::uint32_t id : ids) {
    CHECK(rec.streams[id].body == bodies[id]);
    CHECK(rec.streams[id].ended);
    CHECK(rec.streams[id].code == h2::error::no_error);
  }
  CHECK(c.open_streams() == 0);
}

TEST_CASE("h2 client unconsumed bytes of closed streams return to the connection window", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  srec.on_req = [&](const h2::Request& r) {
    REQUIRE(srv.submit_response(r.stream, 200, {}, false));
    REQUIRE(srv.submit_data(r.stream, pattern(r.path == "/small" ? 1000 : 512 * 1024, 1), true));
  };
  std::vector<std::uint32_t> big;
  for (int i = 0; i < 4; ++i) big.push_back(get(c.submit_request("GET", "https", "example.com", "/big", none(), true)));
  REQUIRE(pump(c, srv));
  CHECK(rec.held == 1024 * 1024);  // 4 x 256 KiB: the connection window is used up
  const std::uint32_t small = get(c.submit_request("GET", "https", "example.com", "/small", none(), true));
  REQUIRE(pump(c, srv));
  CHECK(rec.streams[small].status == 200);
  CHECK(rec.streams[small].body.empty());  // no connection window left for it

  for (std::uint32_t id : big) c.reset(id, h2::error::cancel);  // owner gives up, never consumes
  REQUIRE(pump(c, srv));
  for (std::uint32_t id : big) {
    CHECK(rec.streams[id].closed);
    CHECK(rec.streams[id].code == h2::error::cancel);
    CHECK(srec.closed.at(id) == h2::error::cancel);
  }
  CHECK(rec.streams[small].body == pattern(1000, 1));
  CHECK(rec.streams[small].ended);
}

TEST_CASE("h2 client gRPC exchange passes trailers through intact", "[h2][client][grpc]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  const std::string request_msg = grpc_frame("\x0a\x05hello");
  const std::string reply_msg = grpc_frame("\x0a\x05world") + grpc_frame("\x0a\x01!");
  srec.on_end = [&](std::uint32_t s) {
    const h2::Request* r = srec.request(s);
    REQUIRE(r);
    if (r->path == "/pkg.Svc/Unary") {
      const std::vector<http::Header> head = {{"content-type", "application/grpc"}};
      REQUIRE(srv.submit_response(s, 200, head, false));
      REQUIRE(srv.submit_data(s, reply_msg, false));
      const std::vector<http::Header> trailers = {{"grpc-status", "0"}, {"grpc-message", "all%20good"}};
      REQUIRE(srv.submit_trailers(s, trailers));
    } else {  // trailers-only response: the status comes in the (final) head
      const std::vector<http::Header> head = {
          {"content-type", "application/grpc"}, {"grpc-status", "5"}, {"grpc-message", "not found"}};
      REQUIRE(srv.submit_response(s, 200, head, true));
    }
  };
  const std::string length = std::to_string(request_msg.size());
  const std::vector<http::Header> hs = {
      {"content-type", "application/grpc"}, {"te", "trailers"}, {"grpc-timeout", "1S"}, {"content-length", length}};
  const std::uint32_t a = get(c.submit_request("POST", "http", "backend:50051", "/pkg.Svc/Unary", hs, false));
  REQUIRE(c.submit_data(a, request_msg, true));
  const std::uint32_t b = get(c.submit_request("POST", "http", "backend:50051", "/pkg.Svc/Missing", hs, false));
  REQUIRE(c.submit_data(b, request_msg, true));
  REQUIRE(pump(c, srv));

  const h2::Request* r = srec.request(a);
  REQUIRE(r);
  CHECK(find_header(*r, "te") == "trailers");
  CHECK(find_header(*r, "content-type") == "application/grpc");
  CHECK(find_header(*r, "grpc-timeout") == "1S");
  CHECK(srec.bodies[a] == request_msg);

  const auto& sa = rec.streams[a];
  CHECK(sa.status == 200);
  CHECK(sa.headers == Fields{{"content-type", "application/grpc"}});
  CHECK(sa.body == reply_msg);
  CHECK(sa.trailers == Fields{{"grpc-status", "0"}, {"grpc-message", "all%20good"}});
  CHECK(sa.ended);
  CHECK(sa.code == h2::error::no_error);

  const auto& sb = rec.streams[b];
  CHECK(sb.status == 200);
  CHECK(has(sb.headers, "grpc-status", "5"));
  CHECK(has(sb.headers, "grpc-message", "not found"));
  CHECK(sb.trailers.empty());
  CHECK(sb.body.empty());
  CHECK(sb.ended);
  CHECK(sb.code == h2::error::no_error);
}

TEST_CASE("h2 client request trailers end the request body", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const std::uint32_t id = get(c.submit_request("POST", "https", "example.com", "/t", none(), false));
  REQUIRE(c.submit_data(id, "abc", false));
  const std::vector<http::Header> trailers = {{"X-Checksum", "99"}, {"Connection", "close"}, {"grpc-status", "0"}};
  REQUIRE(c.submit_trailers(id, trailers));
  CHECK_FALSE(c.submit_data(id, "late", true));
  CHECK_FALSE(c.submit_trailers(id, trailers));
  REQUIRE(exchange(c, raw));
  const auto sid = static_cast<std::int32_t>(id);
  CHECK(raw.data[sid] == "abc");
  REQUIRE(raw.blocks[sid].size() == 2);
  CHECK(raw.blocks[sid][1] == Fields{{"x-checksum", "99"}, {"grpc-status", "0"}});
  // The trailer HEADERS carries END_STREAM; the DATA before it does not.
  bool data_end = true, trailer_end = false;
  for (const auto& f : raw.frames) {
    if (f.stream != sid) continue;
    if (f.type == NGHTTP2_DATA && !f.payload.empty()) data_end = (f.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f.type == NGHTTP2_HEADERS) trailer_end = (f.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  }
  CHECK_FALSE(data_end);
  CHECK(trailer_end);
}

TEST_CASE("h2 client respects the server's max concurrent streams", "[h2][client]") {
  ServerRec srec;
  h2::Settings ss;
  ss.max_concurrent_streams = 2;
  h2::ServerConnection srv(ss, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  REQUIRE(pump(c, srv));  // SETTINGS exchanged
  CHECK(c.peer_max_concurrent_streams() == 2);

  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/a", none(), true));
  CHECK(c.can_open());
  const std::uint32_t b = get(c.submit_request("GET", "https", "example.com", "/b", none(), true));
  CHECK_FALSE(c.can_open());
  CHECK_FALSE(c.submit_request("GET", "https", "example.com", "/c", none(), true).has_value());
  CHECK(c.open_streams() == 2);
  REQUIRE(pump(c, srv));
  CHECK(srec.requests.size() == 2);

  REQUIRE(srv.submit_response(a, 204, {}, true));
  REQUIRE(pump(c, srv));
  CHECK(rec.streams[a].closed);
  CHECK(c.open_streams() == 1);
  CHECK(c.can_open());
  const std::uint32_t d = get(c.submit_request("GET", "https", "example.com", "/d", none(), true));
  CHECK(d == b + 2);
  REQUIRE(pump(c, srv));
  CHECK(srec.requests.size() == 3);
  CHECK(srec.closed.count(b) == 0);
}

TEST_CASE("h2 client streams the server refuses before its SETTINGS arrive are retry-safe", "[h2][client]") {
  ServerRec srec;
  h2::Settings ss;
  ss.max_concurrent_streams = 2;
  h2::ServerConnection srv(ss, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  // Before the server's SETTINGS, nghttp2's assumption (100) applies: all three leave at once.
  CHECK(c.peer_max_concurrent_streams() == 100);
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(get(c.submit_request("GET", "https", "example.com", "/", none(), true)));
  REQUIRE(pump(c, srv));
  CHECK(srec.requests.size() == 2);
  CHECK(rec.streams[ids[2]].closed);
  CHECK(rec.streams[ids[2]].code == h2::error::refused_stream);
  CHECK_FALSE(rec.streams[ids[0]].closed);
  CHECK_FALSE(rec.streams[ids[1]].closed);
}

TEST_CASE("h2 client graceful GOAWAY from the server refuses newer streams", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  const std::uint32_t s1 = get(c.submit_request("GET", "https", "example.com", "/1", none(), true));
  REQUIRE(pump(c, srv));
  REQUIRE(srec.requests.size() == 1);

  // Streams 3 and 5 leave the client but the server has not read them when it sends GOAWAY;
  // stream 7 is submitted but not yet produced.
  const std::uint32_t s3 = get(c.submit_request("GET", "https", "example.com", "/3", none(), true));
  const std::uint32_t s5 = get(c.submit_request("POST", "https", "example.com", "/5", none(), false));
  REQUIRE(c.submit_data(s5, "body", true));
  std::string in_flight;
  while (c.produce(in_flight) != 0) {
  }
  const std::uint32_t s7 = get(c.submit_request("GET", "https", "example.com", "/7", none(), true));
  srv.goaway(true);
  std::string down;
  while (srv.produce(down) != 0) {
  }
  REQUIRE(c.receive(down));  // stream 1 is still open: the connection goes on
  CHECK(c.goaway_received());
  CHECK(c.goaway_last_stream_id() == s1);
  CHECK(c.goaway_error_code() == h2::error::no_error);
  CHECK(rec.streams[s3].code == h2::error::refused_stream);
  CHECK(rec.streams[s5].code == h2::error::refused_stream);
  CHECK(rec.streams[s3].closed);
  CHECK_FALSE(c.can_open());
  CHECK_FALSE(c.submit_request("GET", "https", "example.com", "/9", none(), true).has_value());
  std::string up;
  while (c.produce(up) != 0) {
  }
  CHECK(rec.streams[s7].closed);  // never produced: refused from produce()
  CHECK(rec.streams[s7].code == h2::error::refused_stream);
  CHECK(c.open_streams() == 1);

  srv.receive(in_flight + up, Clock::now());  // the server ignores streams above its GOAWAY
  CHECK(srec.requests.size() == 1);
  REQUIRE(srv.submit_response(s1, 200, {}, false));
  REQUIRE(srv.submit_data(s1, "last", true));
  CHECK_FALSE(pump(c, srv));  // the GOAWAY exchange is complete: receive() says close
  CHECK(rec.streams[s1].body == "last");
  CHECK(rec.streams[s1].code == h2::error::no_error);
  CHECK(c.open_streams() == 0);
  CHECK(c.failure() == h2::ClientFailure::none);
  CHECK(c.done());
  const bool order_ok = rec.close_order == std::vector<std::uint32_t>{s3, s5, s7, s1} ||
                        rec.close_order == std::vector<std::uint32_t>{s5, s3, s7, s1};
  CHECK(order_ok);
}

TEST_CASE("h2 client GOAWAY with an error closes streams above the last id", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/a", none(), true));
  const std::uint32_t b = get(c.submit_request("GET", "https", "example.com", "/b", none(), true));
  REQUIRE(exchange(c, raw));
  raw.goaway(static_cast<std::int32_t>(a), h2::error::enhance_your_calm);
  CHECK(exchange(c, raw));
  CHECK(c.goaway_error_code() == h2::error::enhance_your_calm);
  CHECK(rec.streams[b].code == h2::error::refused_stream);
  CHECK_FALSE(rec.streams[a].closed);
  // The server then closes the transport: the owner reports it.
  c.connection_lost(h2::error::cancel);
  CHECK(rec.streams[a].closed);
  CHECK(rec.streams[a].code == h2::error::cancel);
  CHECK(c.done());
  std::string out;
  CHECK(c.produce(out) == 0);
  CHECK_FALSE(c.receive("x"));
}

TEST_CASE("h2 client malformed responses reset exactly that stream", "[h2][client]") {
  using Send = std::function<void(RawServer&, std::int32_t)>;
  const auto head = [](Fields f, bool end = true) -> Send {
    return [f, end](RawServer& r, std::int32_t s) { r.headers(s, f, end); };
  };
  struct Case {
    const char* what;
    const char* reason;  // Handler::on_malformed
    Send send;
    bool head_delivered;  // on_response happens before the problem shows
  };
  const Fields ok = {{":status", "200"}};
  const std::vector<Case> cases = {
      {"uppercase name", "invalid field name", head({{":status", "200"}, {"X-Bad", "1"}}), false},
      {"missing :status", "missing :status", head({{"content-type", "text/plain"}}), false},
      {"empty header block", "missing :status", head({}), false},
      {"two :status", "duplicate :status", head({{":status", "200"}, {":status", "200"}}), false},
      {":status two digits", "invalid :status", head({{":status", "20"}}), false},
      {":status four digits", "invalid :status", head({{":status", "2000"}}), false},
      {":status not digits", "invalid :status", head({{":status", "2x0"}}), false},
      {":status below 100", "invalid :status", head({{":status", "099"}}), false},
      {":status above 599", "invalid :status", head({{":status", "600"}}), false},
      {":status 101", ":status 101 in HTTP/2", head({{":status", "101"}}), false},
      {"request pseudo-header", "unknown pseudo-header", head({{":status", "200"}, {":path", "/"}}), false},
      {"pseudo-header after regular field", "pseudo-header after regular field",
       head({{"x-a", "1"}, {":status", "200"}}), false},
      {"connection header", "connection-specific field", head({{":status", "200"}, {"connection", "close"}}), false},
      {"keep-alive header", "connection-specific field", head({{":status", "200"}, {"keep-alive", "5"}}), false},
      {"transfer-encoding header", "connection-specific field",
       head({{":status", "200"}, {"transfer-encoding", "chunked"}}), false},
      {"upgrade header", "connection-specific field", head({{":status", "200"}, {"upgrade", "h2c"}}), false},
      {"te other than trailers", "connection-specific field", head({{":status", "200"}, {"te", "gzip"}}), false},
      {"CR LF in a value", "invalid field value", head({{":status", "200"}, {"x-a", "a\r\nx-b: b"}}), false},
      {"NUL in a value", "invalid field value", head({{":status", "200"}, {"x-a", std::string("a\0b", 3)}}), false},
      {"control byte in a value", "invalid field value", head({{":status", "200"}, {"x-a", "a\x01"}}), false},
      {"leading space in a value", "invalid field value", head({{":status", "200"}, {"x-a", " a"}}), false},
      {"space in a name", "invalid field name", head({{":status", "200"}, {"x a", "1"}}), false},
      {"empty name", "invalid field name", head({{":status", "200"}, {"", "1"}}), false},
      {"content-length not digits", "invalid content-length",
       head({{":status", "200"}, {"content-length", "1a"}}, false), false},
      {"content-length list", "invalid content-length", head({{":status", "200"}, {"content-length", "1, 1"}}, false),
       false},
      {"two content-length", "duplicate content-length",
       head({{":status", "200"}, {"content-length", "1"}, {"content-length", "1"}}, false), false},
      {"content-length without DATA", "content-length without DATA",
       head({{":status", "200"}, {"content-length", "5"}}, true), false},
      {"content-length in a 1xx", "content-length in a 1xx response",
       head({{":status", "103"}, {"content-length", "0"}}, false), false},
      {"content-length in a 204", "content-length in a 204 response",
       head({{":status", "204"}, {"content-length", "5"}}), false},
      {"interim response with END_STREAM", "interim response with END_STREAM", head({{":status", "100"}}, true), false},
      {"DATA after an interim response", "DATA before the final response",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "103"}, {"link", "</a.css>"}}, false);
         r.data_frame(s, "x", true);
       },
       false},
      {"DATA shorter than content-length", "content-length does not match the DATA received",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}, {"content-length", "5"}}, false);
         r.data_frame(s, "abc", true);
       },
       true},
      {"DATA longer than content-length", "DATA beyond content-length",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}, {"content-length", "2"}}, false);
         r.data_frame(s, "abc", true);
       },
       true},
      {"trailers shorter than content-length", "content-length does not match the DATA received",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}, {"content-length", "5"}}, false);
         r.data_frame(s, "abc", false);
         r.headers(s, {{"grpc-status", "0"}}, true);
       },
       true},
      {"pseudo-header in trailers", "pseudo-header in trailers",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}}, false);
         r.data_frame(s, "abc", false);
         r.headers(s, {{"grpc-status", "0"}, {":status", "200"}}, true);
       },
       true},
      {"uppercase name in trailers", "invalid field name",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}}, false);
         r.headers(s, {{"Grpc-Status", "0"}}, true);
       },
       true},
      {"content-length in trailers", "content-length in trailers",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}}, false);
         r.data_frame(s, "abc", false);
         r.headers(s, {{"content-length", "3"}}, true);
       },
       true},
      {"trailers without END_STREAM", "trailers without END_STREAM",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "200"}}, false);
         r.headers(s, {{"grpc-status", "0"}}, false);
       },
       true},
      {"DATA in a 204", "DATA in a response without content",
       [](RawServer& r, std::int32_t s) {
         r.headers(s, {{":status", "204"}}, false);
         r.data_frame(s, "abc", true);
       },
       true},
  };
  for (const Case& k : cases) {
    INFO(k.what);
    ClientRec rec;
    h2::ClientConnection c(h2::ClientSettings{}, rec);
    RawServer raw;
    const std::uint32_t bad = get(c.submit_request("GET", "https", "example.com", "/bad", none(), true));
    const std::uint32_t good = get(c.submit_request("GET", "https", "example.com", "/good", none(), true));
    REQUIRE(exchange(c, raw));
    k.send(raw, static_cast<std::int32_t>(bad));
    raw.headers(static_cast<std::int32_t>(good), {{":status", "200"}, {"content-length", "2"}}, false);
    raw.data_frame(static_cast<std::int32_t>(good), "ok", true);
    CHECK(exchange(c, raw));
    CHECK(c.failure() == h2::ClientFailure::none);

    const auto& b = rec.streams[bad];
    CHECK(b.closed);
    CHECK(b.code == h2::error::protocol_error);
    CHECK(b.malformed == k.reason);
    CHECK_FALSE(b.ended);
    CHECK(b.trailers.empty());
    CHECK((b.status != 0) == k.head_delivered);
    CHECK(raw.rst_code(static_cast<std::int32_t>(bad)) == std::optional<std::uint32_t>(h2::error::protocol_error));
    CHECK(raw.rst_count(static_cast<std::int32_t>(bad)) == 1);

    const auto& g = rec.streams[good];
    CHECK(g.status == 200);
    CHECK(g.body == "ok");
    CHECK(g.ended);
    CHECK(g.code == h2::error::no_error);
    CHECK_FALSE(raw.rst_code(static_cast<std::int32_t>(good)).has_value());
    CHECK(c.open_streams() == 0);
    CHECK(rec.held == 0);
    // The connection is still usable.
    CHECK(c.can_open());
  }
}

TEST_CASE("h2 client well-formed response variants are accepted", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const auto req = [&](const char* method) {
    return static_cast<std::int32_t>(get(c.submit_request(method, "https", "example.com", "/", none(), true)));
  };
  const std::int32_t interim = req("GET"), no_content = req("GET"), not_modified = req("GET"), head = req("HEAD"),
                     values = req("GET"), padded = req("GET"), split = req("GET");
  REQUIRE(exchange(c, raw));
  raw.headers(interim, {{":status", "100"}}, false);
  raw.headers(interim, {{":status", "103"}, {"link", "</s.css>; rel=preload"}}, false);
  raw.headers(interim, {{":status", "200"}}, false);
  raw.data_frame(interim, "body", false);
  raw.data_frame(interim, "", true);
  raw.headers(no_content, {{":status", "204"}, {"content-length", "0"}}, true);
  raw.headers(not_modified, {{":status", "304"}, {"content-length", "1234"}, {"etag", "\"x\""}}, true);
  raw.headers(head, {{":status", "200"}, {"content-length", "100"}}, true);
  raw.headers(values,
              {{":status", "599"},
               {"x-empty", ""},
               {"x-obs", "caf\xc3\xa9"},
               {"x-inner", "a \t b"},
               {"te", "trailers"},
               {"content-length", "0"}},
              true);
  // DATA with padding: only the 3 content bytes count.
  raw.headers(padded, {{":status", "200"}, {"content-length", "3"}}, false);
  raw.frame(NGHTTP2_DATA, NGHTTP2_FLAG_PADDED | NGHTTP2_FLAG_END_STREAM, padded,
            std::string(1, '\x04') + "abc" + std::string(4, '\0'));
  // A head split over HEADERS + CONTINUATION frames of 7 bytes.
  raw.headers_split(split, raw.block({{":status", "200"}, {"x-long", std::string(200, 'v')}}), true, 7);
  REQUIRE(exchange(c, raw));

  CHECK(rec.streams[interim].interim == std::vector<int>{100, 103});
  CHECK(rec.streams[interim].status == 200);
  CHECK(rec.streams[interim].body == "body");
  CHECK(rec.streams[no_content].status == 204);
  CHECK(rec.streams[not_modified].status == 304);
  CHECK(has(rec.streams[not_modified].headers, "content-length", "1234"));
  CHECK(rec.streams[head].status == 200);
  CHECK(rec.streams[values].status == 599);
  CHECK(rec.streams[values].headers == Fields{{"x-empty", ""},
                                              {"x-obs", "caf\xc3\xa9"},
                                              {"x-inner", "a \t b"},
                                              {"te", "trailers"},
                                              {"content-length", "0"}});
  CHECK(rec.streams[padded].body == "abc");
  CHECK(has(rec.streams[split].headers, "x-long", std::string(200, 'v')));
  for (std::int32_t s : {interim, no_content, not_modified, head, values, padded, split}) {
    INFO(s);
    CHECK(rec.streams[static_cast<std::uint32_t>(s)].ended);
    CHECK(rec.streams[static_cast<std::uint32_t>(s)].code == h2::error::no_error);
    CHECK(rec.streams[static_cast<std::uint32_t>(s)].malformed.empty());
  }
  CHECK(c.failure() == h2::ClientFailure::none);
}

TEST_CASE("h2 client response to HEAD or 304 must not carry DATA", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const auto head = static_cast<std::int32_t>(get(c.submit_request("HEAD", "https", "example.com", "/", none(), true)));
  const auto cond = static_cast<std::int32_t>(get(c.submit_request("GET", "https", "example.com", "/", none(), true)));
  REQUIRE(exchange(c, raw));
  raw.headers(head, {{":status", "200"}, {"content-length", "3"}}, false);
  raw.data_frame(head, "abc", true);
  raw.headers(cond, {{":status", "304"}}, false);
  raw.data_frame(cond, "x", true);
  CHECK(exchange(c, raw));
  for (std::int32_t s : {head, cond}) {
    const auto& st = rec.streams[static_cast<std::uint32_t>(s)];
    CHECK(st.code == h2::error::protocol_error);
    CHECK(st.body.empty());
    CHECK_FALSE(st.ended);
    CHECK(st.malformed == std::string("DATA in a response without content"));
  }
}

TEST_CASE("h2 client PUSH_PROMISE is a connection error", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  REQUIRE(exchange(c, raw));
  raw.push_promise(static_cast<std::int32_t>(a), 2,
                   {{":method", "GET"}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/pushed"}});
  raw.headers(static_cast<std::int32_t>(a), {{":status", "200"}}, true);
  CHECK_FALSE(c.receive(raw.take()));
  CHECK(c.failure() == h2::ClientFailure::push_promise);
  CHECK(rec.streams[a].closed);
  CHECK(rec.streams[a].code == h2::error::protocol_error);  // its request had left: not retry-safe
  CHECK(rec.streams[a].status == 0);
  CHECK_FALSE(c.can_open());
  CHECK_FALSE(c.done());  // the GOAWAY is still to be written
  std::string out;
  while (c.produce(out) != 0) {
  }
  raw.feed(out);
  REQUIRE(raw.goaway_seen().has_value());
  CHECK(raw.goaway_seen()->second == h2::error::protocol_error);
  CHECK(c.done());
  CHECK(std::string(h2::to_string(c.failure())) == "push_promise");
}

TEST_CASE("h2 client response header list over the bound resets the stream", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const auto big = static_cast<std::int32_t>(get(c.submit_request("GET", "https", "example.com", "/", none(), true)));
  const auto next = static_cast<std::int32_t>(get(c.submit_request("GET", "https", "example.com", "/", none(), true)));
  REQUIRE(exchange(c, raw));
  // 70 fields of ~1 KiB: ~72 KiB decoded, over 64 KiB; fewer encoded bytes than the block bound.
  Fields f = {{":status", "200"}};
  for (int i = 0; i < 70; ++i) f.emplace_back("x-f" + std::to_string(i), pattern(1000, static_cast<unsigned>(i)));
  const std::string blk = raw.block(f);
  REQUIRE(blk.size() < 64 * 1024 + 16384);
  raw.headers_split(big, blk, true, 16384);
  raw.headers(next, {{":status", "200"}, {"x-after", "1"}}, true);  // HPACK state still in sync
  CHECK(exchange(c, raw));
  CHECK(rec.streams[static_cast<std::uint32_t>(big)].code == h2::error::enhance_your_calm);
  CHECK(rec.streams[static_cast<std::uint32_t>(big)].malformed == std::string("header list too large"));
  CHECK(raw.rst_code(big) == std::optional<std::uint32_t>(h2::error::enhance_your_calm));
  CHECK(has(rec.streams[static_cast<std::uint32_t>(next)].headers, "x-after", "1"));
  CHECK(rec.streams[static_cast<std::uint32_t>(next)].code == h2::error::no_error);
  CHECK(c.failure() == h2::ClientFailure::none);
}

TEST_CASE("h2 client header block over the encoded bound is a connection error", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const auto a = static_cast<std::int32_t>(get(c.submit_request("GET", "https", "example.com", "/", none(), true)));
  REQUIRE(exchange(c, raw));
  Fields f = {{":status", "200"}};
  for (int i = 0; i < 30; ++i) f.emplace_back("x-f" + std::to_string(i), std::string(4000, '~'));
  const std::string blk = raw.block(f);
  REQUIRE(blk.size() > 64 * 1024 + 16384);
  raw.headers_split(a, blk, true, 16384);
  CHECK_FALSE(c.receive(raw.take()));
  CHECK(c.failure() == h2::ClientFailure::header_block_too_large);
  CHECK(rec.streams[static_cast<std::uint32_t>(a)].closed);
  std::string out;
  while (c.produce(out) != 0) {
  }
  raw.feed(out);
  REQUIRE(raw.goaway_seen().has_value());
  CHECK(raw.goaway_seen()->second == h2::error::enhance_your_calm);
  CHECK(c.done());
}

TEST_CASE("h2 client CONTINUATION flood is a connection error", "[h2][client]") {
  ClientRec rec;
  h2::ClientSettings cs;
  h2::ClientConnection c(cs, rec);
  RawServer raw;
  const auto a = static_cast<std::int32_t>(get(c.submit_request("GET", "https", "example.com", "/", none(), true)));
  REQUIRE(exchange(c, raw));
  const std::string blk = raw.block({{":status", "200"}, {"x-a", pattern(60, 1)}});
  REQUIRE(blk.size() > cs.max_continuations + 2);
  raw.headers_split(a, blk, true, 1);
  CHECK_FALSE(c.receive(raw.take()));
  CHECK(c.failure() == h2::ClientFailure::continuation_flood);
  CHECK(rec.streams[static_cast<std::uint32_t>(a)].closed);
}

TEST_CASE("h2 client a frame error from the server fails every stream", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  REQUIRE(exchange(c, raw));
  const std::uint32_t b = get(c.submit_request("GET", "https", "example.com", "/", none(), true));  // not produced
  raw.data_frame(static_cast<std::int32_t>(a), "x", true);  // DATA before any response HEADERS
  c.receive(raw.take());  // nghttp2 queues GOAWAY(PROTOCOL_ERROR); noticed when produced
  std::string out;
  while (c.produce(out) != 0) {
  }
  raw.feed(out);
  REQUIRE(raw.goaway_seen().has_value());
  CHECK(raw.goaway_seen()->second == h2::error::protocol_error);
  CHECK(c.failure() == h2::ClientFailure::protocol_error);
  CHECK(rec.streams[a].code == h2::error::protocol_error);
  CHECK(rec.streams[b].code == h2::error::refused_stream);  // never left: retry-safe
  CHECK(c.open_streams() == 0);
  CHECK(c.done());
  CHECK_FALSE(c.receive("more"));
}

TEST_CASE("h2 client owner reset reaches the server", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  const std::uint32_t a = get(c.submit_request("POST", "https", "example.com", "/", none(), false));
  REQUIRE(c.submit_data(a, "partial", false));
  REQUIRE(pump(c, srv));
  REQUIRE(srec.requests.size() == 1);
  c.reset(a, h2::error::cancel);
  CHECK_FALSE(c.submit_data(a, "more", true));
  REQUIRE(pump(c, srv));
  CHECK(rec.streams[a].closed);
  CHECK(rec.streams[a].code == h2::error::cancel);
  CHECK(srec.closed.at(a) == h2::error::cancel);

  // Reset before its HEADERS were produced: the request never leaves.
  const std::uint32_t b = get(c.submit_request("GET", "https", "example.com", "/never", none(), true));
  c.reset(b, h2::error::cancel);
  REQUIRE(pump(c, srv));
  CHECK(rec.streams[b].closed);
  CHECK(rec.streams[b].code == h2::error::cancel);
  CHECK(srec.requests.size() == 1);
  CHECK(c.open_streams() == 0);
}

TEST_CASE("h2 client server RST_STREAM reaches the owner", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  srec.on_req = [&](const h2::Request& r) { srv.reset(r.stream, h2::error::refused_stream); };
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  REQUIRE(pump(c, srv));
  CHECK(rec.streams[a].code == h2::error::refused_stream);
  CHECK(c.can_open());
}

TEST_CASE("h2 client connection_lost reports streams by whether they left", "[h2][client]") {
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  RawServer raw;
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  REQUIRE(exchange(c, raw));
  const std::uint32_t b = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  // The handler may look at the connection from the callback: no new stream can start.
  rec.on_close = [&](std::uint32_t, std::uint32_t) {
    CHECK_FALSE(c.can_open());
    CHECK_FALSE(c.submit_request("GET", "https", "example.com", "/", none(), true).has_value());
  };
  c.connection_lost(h2::error::internal_error);
  CHECK(rec.streams[a].code == h2::error::internal_error);
  CHECK(rec.streams[b].code == h2::error::refused_stream);
  CHECK(rec.close_order == std::vector<std::uint32_t>{a, b});
  CHECK(c.open_streams() == 0);
  CHECK(c.done());
  CHECK_FALSE(c.want_write());
}

TEST_CASE("h2 client graceful goaway lets open streams finish", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  REQUIRE(pump(c, srv));
  c.goaway(true);
  CHECK_FALSE(c.can_open());
  CHECK_FALSE(c.submit_request("GET", "https", "example.com", "/", none(), true).has_value());
  REQUIRE(pump(c, srv));
  CHECK_FALSE(c.done());  // stream a is still open
  REQUIRE(srv.submit_response(a, 200, {}, false));
  REQUIRE(srv.submit_data(a, "end", true));
  pump(c, srv);
  CHECK(rec.streams[a].body == "end");
  CHECK(rec.streams[a].code == h2::error::no_error);
  CHECK(c.failure() == h2::ClientFailure::none);
  CHECK(c.done());
}

TEST_CASE("h2 client immediate goaway closes every stream", "[h2][client]") {
  ServerRec srec;
  h2::ServerConnection srv(h2::Settings{}, srec);
  ClientRec rec;
  h2::ClientConnection c(h2::ClientSettings{}, rec);
  const std::uint32_t a = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  REQUIRE(pump(c, srv));
  const std::uint32_t b = get(c.submit_request("GET", "https", "example.com", "/", none(), true));
  c.goaway(false);
  CHECK_FALSE(rec.streams[a].closed);  // reported from produce()
  std::string out;
  while (c.produce(out) != 0) {
  }
  CHECK(rec.streams[a].code == h2::error::cancel);
  CHECK(rec.streams[b].code == h2::error::refused_stream);
  CHECK(c.done());
  srv.receive(out, Clock::now());
  CHECK(srec.requests.size() == 1);
  CHECK(c.failure() == h2::ClientFailure::none);

  // From a receive() as well: the streams are reported before it returns false.
  ClientRec rec2;
  h2::ClientConnection c2(h2::ClientSettings{}, rec2);
  const std::uint32_t d = get(c2.submit_request("GET", "https", "example.com", "/", none(), true));
  c2.goaway(false);
  CHECK_FALSE(c2.receive(""));
  CHECK(rec2.streams[d].code == h2::error::refused_stream);
  CHECK(c2.open_streams() == 0);
}

TEST_CASE("h2 client ResponseBlock checks fields one by one", "[h2][client]") {
  h2::ResponseBlock b(200);
  b.start(h2::ResponseBlock::Kind::head);
  b.add(":status", "200");
  b.add("content-length", "12");
  b.add("x-a", "1");
  REQUIRE(b.finish() == h2::ResponseBlock::Verdict::ok);
  CHECK(b.status() == 200);
  CHECK(b.content_length() == std::optional<std::uint64_t>(12));
  REQUIRE(b.fields().size() == 2);
  CHECK(b.fields()[1].name == "x-a");
  CHECK(b.list_size() == (7 + 3 + 32) + (14 + 2 + 32) + (3 + 1 + 32));

  // The size bound: nothing is stored past it.
  b.start(h2::ResponseBlock::Kind::head);
  b.add(":status", "200");
  b.add("x-big", std::string(300, 'a'));
  CHECK(b.verdict() == h2::ResponseBlock::Verdict::too_large);
  CHECK(b.held_bytes() == 0);
  CHECK(b.finish() == h2::ResponseBlock::Verdict::too_large);

  // Trailers take no pseudo-header, and content-length only in a head.
  b.start(h2::ResponseBlock::Kind::trailers);
  b.add("grpc-status", "0");
  REQUIRE(b.finish() == h2::ResponseBlock::Verdict::ok);
  CHECK(b.status() == 0);
  CHECK(b.fields().size() == 1);
  b.start(h2::ResponseBlock::Kind::trailers);
  b.add(":status", "200");
  CHECK(b.verdict() == h2::ResponseBlock::Verdict::malformed);
  CHECK(std::string(b.reason()) == "pseudo-header in trailers");

  // A value of content-length at the 2^62 cap passes; one above does not.
  b = h2::ResponseBlock(64 * 1024);
  b.start(h2::ResponseBlock::Kind::head);
  b.add(":status", "200");
  b.add("content-length", "4611686018427387904");
  CHECK(b.finish() == h2::ResponseBlock::Verdict::ok);
  b.start(h2::ResponseBlock::Kind::head);
  b.add(":status", "200");
  b.add("content-length", "4611686018427387905");
  CHECK(b.finish() == h2::ResponseBlock::Verdict::malformed);
}
