// http::Encoder: gzip and brotli streams decode back to what went in, whole or in pieces, with
// flushes that make every prefix decodable, and one encoder reused across many streams.
//
// gzip is checked with zlib's inflate and, for independence from zlib, with the gzip tool. brotli is
// checked with libbrotlidec, loaded at run time (it ships in the same package as libbrotlienc, which
// rampart_http links), so the test needs no extra link line.
#include "http/encoder.hpp"

#include <brotli/decode.h>
#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <unistd.h>

using rampart::http::Coding;
using rampart::http::Encoder;

namespace {

// A decoded (prefix of a) stream: the bytes, and whether the stream's end was seen.
struct Decoded {
  std::string data;
  bool complete = false;
  bool error = false;
};

Decoded gunzip(std::string_view in) {
  Decoded d;
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    const int rc = inflate(&z, Z_SYNC_FLUSH);
    d.data.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_STREAM_END) {
      d.complete = z.avail_in == 0;  // no trailing garbage
      break;
    }
    if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)) break;  // needs more input
    if (rc != Z_OK) {
      d.error = true;
      break;
    }
  }
  inflateEnd(&z);
  return d;
}

// libbrotlidec, resolved once.
struct BrotliDecoderLib {
  decltype(&BrotliDecoderCreateInstance) create = nullptr;
  decltype(&BrotliDecoderDecompressStream) decompress = nullptr;
  decltype(&BrotliDecoderDestroyInstance) destroy = nullptr;
  BrotliDecoderLib() {
    void* lib = dlopen("libbrotlidec.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) throw std::runtime_error(std::string("cannot load libbrotlidec.so.1: ") + dlerror());
    create = reinterpret_cast<decltype(create)>(dlsym(lib, "BrotliDecoderCreateInstance"));
    decompress = reinterpret_cast<decltype(decompress)>(dlsym(lib, "BrotliDecoderDecompressStream"));
    destroy = reinterpret_cast<decltype(destroy)>(dlsym(lib, "BrotliDecoderDestroyInstance"));
    if (!create || !decompress || !destroy) throw std::runtime_error("libbrotlidec.so.1 lacks the decoder API");
  }
};

const BrotliDecoderLib& brotli_lib() {
  static const BrotliDecoderLib lib;
  return lib;
}

Decoded unbrotli(std::string_view in) {
  const auto& lib = brotli_lib();
  Decoded d;
  BrotliDecoderState* st = lib.create(nullptr, nullptr, nullptr);
  REQUIRE(st != nullptr);
  std::size_t avail_in = in.size();
  const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  std::uint8_t buf[16384];
  for (;;) {
    std::size_t avail_out = sizeof buf;
    std::uint8_t* next_out = buf;
    const auto rc = lib.decompress(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    d.data.append(reinterpret_cast<const char*>(buf), sizeof buf - avail_out);
    if (rc == BROTLI_DECODER_RESULT_SUCCESS) {
      d.complete = avail_in == 0;
      break;
    }
    // The decoder says "needs more input" once it has taken all of it, even with output still
    // pending behind a full buffer: go on while the buffer comes back full.
    if (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && avail_out != 0) break;
    if (rc == BROTLI_DECODER_RESULT_ERROR) {
      d.error = true;
      break;
    }
  }
  lib.destroy(st);
  return d;
}

// Equality without Catch printing both (possibly megabyte) sides on failure.
bool same(const std::string& got, const std::string& want) {
  if (got == want) return true;
  std::size_t at = 0;
  while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
  UNSCOPED_INFO("got " << got.size() << " bytes, want " << want.size() << ", first difference at " << at);
  return false;
}

Decoded decode(Coding c, std::string_view in) {
  if (c == Coding::gzip) return gunzip(in);
  if (c == Coding::br) return unbrotli(in);
  return Decoded{std::string(in), true, false};
}

// The gzip tool's reading of a stream (an independent decoder).
std::string gzip_tool_decode(const std::string& compressed) {
  char path[] = "/tmp/rampart-encoder-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, compressed.data(), compressed.size()) == static_cast<ssize_t>(compressed.size()));
  ::close(fd);
  std::string out;
  FILE* p = popen((std::string("gzip -dc < ") + path).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  ::unlink(path);
  CHECK(status == 0);
  return out;
}

std::string json_body(std::size_t size) {
  std::string s = "[";
  for (int i = 0; s.size() < size; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"item " + std::to_string(i * 7919 % 1000) +
         "\",\"tags\":[\"alpha\",\"beta\"],\"price\":" + std::to_string(i % 97) + ".5},";
  }
  s.back() = ']';
  return s;
}

// Random bytes and English-like text in alternating runs: some of it compresses, some does not.
std::string mixed_body(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  static const char* words[] = {"proxy ", "upstream ", "header ", "stream ", "brotli ", "gzip ", "the ", "of "};
  std::string s;
  s.reserve(size);
  while (s.size() < size) {
    const std::size_t run = 1 + rng() % 4096;
    if (rng() % 2) {
      for (std::size_t i = 0; i < run && s.size() < size; ++i) s.push_back(static_cast<char>(rng()));
    } else {
      while (s.size() < size && run > 0) {
        s += words[rng() % 8];
        if (rng() % 64 == 0) break;
      }
    }
  }
  s.resize(size);
  return s;
}

std::string compress_whole(Encoder& e, Coding c, int level, std::string_view body) {
  std::string out;
  e.begin(c, level, body.size());
  e.write(body, out);
  e.finish(out);
  return out;
}

// Feeds `body` in pieces of `piece` bytes, flushing after every `flush_every` pieces (0: never).
std::string compress_pieces(Encoder& e, Coding c, int level, std::string_view body, std::size_t piece,
                            std::size_t flush_every) {
  std::string out;
  e.begin(c, level);
  std::size_t n = 0;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    ++n;
    e.write(body.substr(at, piece), out, flush_every && n % flush_every == 0);
  }
  e.finish(out);
  return out;
}

}  // namespace

TEST_CASE("encoder: coding names") {
  CHECK(rampart::http::coding_name(Coding::gzip) == "gzip");
  CHECK(rampart::http::coding_name(Coding::br) == "br");
  CHECK(rampart::http::coding_name(Coding::identity) == "identity");
}

TEST_CASE("encoder: whole bodies round trip in gzip and brotli") {
  const std::string bodies[] = {"", "x", json_body(20 * 1024), mixed_body(1024 * 1024, 7)};
  for (Coding c : {Coding::gzip, Coding::br}) {
    Encoder e;
    for (const std::string& body : bodies) {
      INFO("coding " << rampart::http::coding_name(c) << ", body of " << body.size() << " bytes");
      const std::string z = compress_whole(e, c, c == Coding::gzip ? 6 : 4, body);
      const Decoded d = decode(c, z);
      CHECK_FALSE(d.error);
      CHECK(d.complete);
      CHECK(same(d.data, body));
      if (body.starts_with('[')) CHECK(z.size() < body.size() / 3);  // JSON compresses well
    }
  }
}

TEST_CASE("encoder: gzip output is read by the gzip tool") {
  Encoder e;
  const std::string json = json_body(20 * 1024);
  const std::string mixed = mixed_body(1024 * 1024, 11);
  CHECK(same(gzip_tool_decode(compress_whole(e, Coding::gzip, 6, json)), json));
  CHECK(same(gzip_tool_decode(compress_pieces(e, Coding::gzip, 1, mixed, 7, 13)), mixed));
  CHECK(gzip_tool_decode(compress_whole(e, Coding::gzip, 9, "")).empty());
}

TEST_CASE("encoder: bodies fed in 1 and 7 byte pieces with flushes round trip") {
  const std::string json = json_body(20 * 1024);
  const std::string mixed = mixed_body(256 * 1024, 3);
  for (Coding c : {Coding::gzip, Coding::br}) {
    Encoder e;
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}}) {
      for (std::size_t flush_every : {std::size_t{0}, std::size_t{1}, std::size_t{97}}) {
        INFO("coding " << rampart::http::coding_name(c) << ", pieces of " << piece << ", flush every " << flush_every);
        // A flush after every single byte is the worst case: keep that body short.
        const std::string& body = flush_every == 1 ? json.substr(0, 2000) : (piece == 1 ? json : mixed);
        const Decoded d = decode(c, compress_pieces(e, c, 5, body, piece, flush_every));
        CHECK_FALSE(d.error);
        CHECK(d.complete);
        CHECK(same(d.data, body));
      }
    }
  }
}

TEST_CASE("encoder: a flush makes the output so far decodable") {
  const std::string a = json_body(5000);
  const std::string b = mixed_body(70000, 5);
  const std::string c_part = "tail end";
  for (Coding c : {Coding::gzip, Coding::br}) {
    INFO("coding " << rampart::http::coding_name(c));
    Encoder e;
    std::string out;
    e.begin(c, c == Coding::gzip ? 6 : 11);
    e.write(a, out, true);
    Decoded d = decode(c, out);
    CHECK_FALSE(d.error);
    CHECK_FALSE(d.complete);
    CHECK(same(d.data, a));

    e.write(b, out);  // no flush: some of b may still be inside the encoder
    e.write({}, out, true);
    d = decode(c, out);
    CHECK_FALSE(d.complete);
    CHECK(same(d.data, a + b));

    e.write(c_part, out, true);
    d = decode(c, out);
    CHECK(same(d.data, a + b + c_part));
    e.finish(out);
    d = decode(c, out);
    CHECK(d.complete);
    CHECK(same(d.data, a + b + c_part));
  }
}

TEST_CASE("encoder: one encoder serves 100 streams of alternating codings") {
  Encoder e;
  CHECK(e.memory() == 0);  // nothing allocated before the first begin()
  std::size_t gzip_memory = 0;
  for (int i = 0; i < 100; ++i) {
    const Coding c = i % 2 ? Coding::br : Coding::gzip;
    const int level = c == Coding::gzip ? 1 + i % 9 : i % 12;
    const std::string body = i % 3 == 0 ? json_body(1000 + 97 * i) : mixed_body(500 + 311 * i, static_cast<unsigned>(i));
    INFO("stream " << i << ", coding " << rampart::http::coding_name(c) << ", level " << level);
    std::string out;
    e.begin(c, level, i % 4 == 0 ? std::optional<std::uint64_t>(body.size()) : std::nullopt);
    e.write(body.substr(0, body.size() / 2), out, i % 5 == 0);
    e.write(body.substr(body.size() / 2), out);
    e.finish(out);
    const Decoded d = decode(c, out);
    CHECK_FALSE(d.error);
    CHECK(d.complete);
    CHECK(same(d.data, body));
    if (c == Coding::gzip) {
      // The zlib state is kept and reused: its footprint does not grow from stream to stream.
      if (gzip_memory == 0) gzip_memory = e.memory();
      CHECK(e.memory() == gzip_memory);
    }
  }
  CHECK(gzip_memory > 200 * 1024);  // zlib's window and hash tables
  CHECK(gzip_memory < 300 * 1024);
}

TEST_CASE("encoder: the gzip level takes effect when a reused state changes level") {
  Encoder e;
  const std::string body = json_body(200 * 1024);
  const std::string fast = compress_whole(e, Coding::gzip, 1, body);
  const std::string best = compress_whole(e, Coding::gzip, 9, body);
  const std::string fast_again = compress_whole(e, Coding::gzip, 1, body);
  CHECK(same(gunzip(best).data, body));
  CHECK(best.size() < fast.size());
  CHECK((fast_again == fast));  // same level, same input: the reset state gives the same bytes
}

TEST_CASE("encoder: brotli memory is bounded and released when the stream ends") {
  Encoder e;
  const std::string big = mixed_body(1024 * 1024, 9);
  std::string out;
  e.begin(Coding::br, 4);
  e.write(big, out);
  const std::size_t unbounded_stream = e.memory();
  e.finish(out);
  CHECK(same(unbrotli(out).data, big));
  CHECK(e.memory() < 1024);  // the brotli instance is gone (no zlib state was made)
  CHECK(unbounded_stream < 2560 * 1024);  // the documented bound at quality 4 is about 1.9 MiB

  // A small known size shrinks the window, and with it the state.
  const std::string small = json_body(4000);
  out.clear();
  e.begin(Coding::br, 4, small.size());
  e.write(small, out);
  const std::size_t small_stream = e.memory();
  e.finish(out);
  CHECK(same(unbrotli(out).data, small));
  CHECK(small_stream < unbounded_stream / 4);

  // A hint that turns out too small only costs ratio: the stream still decodes.
  out.clear();
  e.begin(Coding::br, 4, 1000);
  e.write(big, out);
  e.finish(out);
  CHECK(same(unbrotli(out).data, big));
}

TEST_CASE("encoder: an abandoned stream does not leak into the next one") {
  Encoder e;
  std::string out;
  e.begin(Coding::br, 5);
  e.write(json_body(10000), out, true);
  e.begin(Coding::gzip, 6);  // the client went away: start over
  out.clear();
  e.write("hello", out);
  e.begin(Coding::gzip, 6);
  out.clear();
  e.write("world", out);
  e.finish(out);
  CHECK(same(gunzip(out).data, "world"));
  out.clear();
  e.begin(Coding::br, 5);
  e.write("again", out);
  e.finish(out);
  CHECK(same(unbrotli(out).data, "again"));
}

TEST_CASE("encoder: identity passes through, and misuse is refused") {
  Encoder e;
  std::string out;
  CHECK_THROWS_AS(e.write("x", out), std::logic_error);
  CHECK_THROWS_AS(e.finish(out), std::logic_error);
  e.begin(Coding::identity, 0);
  e.write("abc", out);
  e.write("def", out, true);
  e.finish(out);
  CHECK(out == "abcdef");
  CHECK_THROWS_AS(e.write("x", out), std::logic_error);  // finished
}

TEST_CASE("encoder: output is appended after what the buffer holds") {
  Encoder e;
  std::string out = "HTTP/1.1 200 OK\r\n\r\n";
  const std::size_t head = out.size();
  const std::string body = json_body(3000);
  e.begin(Coding::gzip, 6);
  e.write(body, out);
  e.finish(out);
  CHECK(out.substr(0, head) == "HTTP/1.1 200 OK\r\n\r\n");
  CHECK(same(gunzip(std::string_view(out).substr(head)).data, body));
}
