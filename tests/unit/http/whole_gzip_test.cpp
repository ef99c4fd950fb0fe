// http::WholeGzip: one-shot gzip of a whole body (libdeflate), decoded back with zlib.
#include "http/encoder.hpp"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <string>

namespace {

std::string gunzip(const std::string& in) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  const bool whole = z.avail_in == 0;
  inflateEnd(&z);
  REQUIRE(rc == Z_STREAM_END);  // one complete gzip member...
  REQUIRE(whole);               // ...and nothing after it
  return out;
}

std::string json_like(std::size_t n) {
  std::string s;
  for (unsigned i = 0; s.size() < n; ++i)
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"user" + std::to_string(i * 7919 % 1000) + "\",\"active\":" +
         (i % 3 ? "true" : "false") + "},";
  s.resize(n);
  return s;
}

}  // namespace

TEST_CASE("whole gzip: round trips at every level, appends after what is there, reuses its compressor") {
  rampart::http::WholeGzip g;
  const std::string body = json_like(20480);
  std::size_t size6 = 0, size1 = 0;
  for (int level : {1, 6, 9, 6, 1}) {
    INFO("level " << level);
    std::string out = "prefix";
    g.compress(level, body, out);
    REQUIRE(out.starts_with("prefix"));
    const std::string gz = out.substr(6);
    CHECK(gz.size() < body.size() / 3);
    CHECK(gunzip(gz) == body);
    if (level == 6) size6 = gz.size();
    if (level == 1) size1 = gz.size();
  }
  CHECK(size6 < size1);  // the level is applied
}

TEST_CASE("whole gzip: empty and incompressible bodies") {
  rampart::http::WholeGzip g;
  std::string out;
  g.compress(6, "", out);
  CHECK(gunzip(out).empty());
  std::string noise(65536, '\0');
  std::uint32_t x = 2463534242u;
  for (char& c : noise) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  out.clear();
  g.compress(0, noise, out);  // clamped to 1
  CHECK(gunzip(out) == noise);
}
