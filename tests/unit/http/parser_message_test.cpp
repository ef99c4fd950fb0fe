#include "http/message.hpp"

#include <catch2/catch.hpp>

using namespace rampart::http;

TEST_CASE("message: iequals is ASCII case-insensitive and exact otherwise", "[http][message]") {
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(iequals("HOST", "host"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("host", "hosts"));
  CHECK_FALSE(iequals("host", "hosu"));
  CHECK_FALSE(iequals("a-b", "a_b"));
  CHECK_FALSE(iequals("@", "`"));   // 0x40 vs 0x60: not letters
  CHECK_FALSE(iequals("[", "{"));   // 0x5B vs 0x7B
  CHECK_FALSE(iequals("\xc3\x89", "\xc3\xa9"));  // no Unicode folding
}

// iequals compares eight bytes at a time with a last overlapping word: every length, and a
// difference (or a case change) at every position, against a byte-by-byte reference, over bytes
// around the letters' edges and above 0x7F.
TEST_CASE("message: iequals agrees with a byte-by-byte comparison at every length and position", "[http][message]") {
  const auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; };
  const auto reference = [&](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) return false;
    return true;
  };
  const unsigned char probes[] = {0x00, '@', 'A', 'M', 'Z', '[', '`', 'a', 'z', '{', 0x7f, 0x80, 0xc1, 0xda, 0xe1, 0xff};
  for (std::size_t len = 0; len <= 24; ++len) {
    std::string base;
    for (std::size_t i = 0; i < len; ++i) base.push_back(static_cast<char>('a' + i % 26));
    std::string upper = base;
    for (auto& c : upper) c = static_cast<char>(c - 32);
    CHECK(iequals(base, upper));
    CHECK_FALSE(iequals(base, base + "x"));
    for (std::size_t k = 0; k < len; ++k) {
      for (unsigned char p : probes) {
        for (unsigned char q : probes) {
          std::string a = base, b = upper;
          a[k] = static_cast<char>(p);
          b[k] = static_cast<char>(q);
          INFO("len " << len << " at " << k << " bytes " << int(p) << " " << int(q));
          REQUIRE(iequals(a, b) == reference(a, b));
          REQUIRE(iequals(b, a) == reference(b, a));
        }
      }
    }
  }
}

TEST_CASE("message: reason phrases", "[http][message]") {
  CHECK(reason_phrase(200) == "OK");
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(414) == "URI Too Long");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(502) == "Bad Gateway");
  CHECK(reason_phrase(505) == "HTTP Version Not Supported");
  CHECK(reason_phrase(299) == "Unknown");
  CHECK(reason_phrase(-1) == "Unknown");
}

TEST_CASE("message: clear() resets every field and keeps header capacity", "[http][message]") {
  RequestHead r;
  r.method_text = "POST";
  r.method = Method::post;
  r.target = "/x?y";
  r.path = "/x";
  r.query = "y";
  r.version_minor = 0;
  r.headers.assign(10, Header{"a", "b"});
  r.host = "h";
  r.body = BodyKind::chunked;
  r.content_length = 5;
  r.keep_alive = false;
  r.expect_continue = true;
  r.upgrade = true;
  r.head_size = 99;
  const auto cap = r.headers.capacity();
  r.clear();
  CHECK(r.method_text.empty());
  CHECK(r.method == Method::other);
  CHECK(r.target.empty());
  CHECK(r.path.empty());
  CHECK(r.query.empty());
  CHECK(r.version_minor == 1);
  CHECK(r.headers.empty());
  CHECK(r.headers.capacity() == cap);
  CHECK(r.host.empty());
  CHECK(r.body == BodyKind::none);
  CHECK(r.content_length == 0);
  CHECK(r.keep_alive);
  CHECK_FALSE(r.expect_continue);
  CHECK_FALSE(r.upgrade);
  CHECK(r.head_size == 0);

  ResponseHead s;
  s.status = 500;
  s.reason = "x";
  s.version_minor = 0;
  s.headers.assign(3, Header{"a", "b"});
  s.body = BodyKind::until_close;
  s.content_length = 1;
  s.keep_alive = false;
  s.head_size = 10;
  const auto scap = s.headers.capacity();
  s.clear();
  CHECK(s.status == 0);
  CHECK(s.reason.empty());
  CHECK(s.version_minor == 1);
  CHECK(s.headers.empty());
  CHECK(s.headers.capacity() == scap);
  CHECK(s.body == BodyKind::none);
  CHECK(s.content_length == 0);
  CHECK(s.keep_alive);
  CHECK(s.head_size == 0);
}
