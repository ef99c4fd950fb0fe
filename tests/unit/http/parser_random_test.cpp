// Fuzz-style robustness test without libFuzzer: valid messages are mutated (bit flips, inserted
// interesting bytes, deletions, duplicated slices, truncation) with a seeded PRNG and handed to
// the parsers in exactly-sized heap buffers, so AddressSanitizer catches any read past the end.
// Properties: no crash, no hang; a `complete` result only has views inside the buffer, is
// reproducible from its own head bytes, and none of its proper prefixes is an error; errors carry
// one of the documented statuses.
#include "http/parser.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace rampart::http;

namespace {

// splitmix64: small, fast, and the same sequence on every platform.
struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

constexpr char k_interesting[] = {'\r', '\n', ' ', '\t', ':', ',', ';', '=', '"', '\\', '\0', '\x7f', '\x80', '\xff',
                                  '0',  '9',  'a', 'F',  '/', '?', '#', '@', '[', ']',  '%', '*',    '-',    '.'};

void mutate(std::string& s, Rng& rng) {
  const std::size_t rounds = 1 + rng.below(4);
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::size_t at = rng.below(s.size() + 1);
    switch (rng.below(6)) {
      case 0:  // flip a bit
        if (!s.empty()) s[at % s.size()] = static_cast<char>(s[at % s.size()] ^ (1 << rng.below(8)));
        break;
      case 1:  // insert an interesting byte
        s.insert(at, 1, k_interesting[rng.below(sizeof k_interesting)]);
        break;
      case 2:  // insert a random byte
        s.insert(at, 1, static_cast<char>(rng.next()));
        break;
      case 3:  // delete a short run
        if (at < s.size()) s.erase(at, 1 + rng.below(3));
        break;
      case 4: {  // duplicate a slice (repeats fields, CRLFs, digits)
        if (s.empty()) break;
        const std::size_t from = rng.below(s.size());
        const std::size_t len = 1 + rng.below(std::min<std::size_t>(40, s.size() - from));
        s.insert(at, s.substr(from, len));
        break;
      }
      default:  // truncate
        s.resize(at);
        break;
    }
  }
}

bool inside(std::string_view v, const char* begin, std::size_t size) {
  if (v.empty()) return true;
  return v.data() >= begin && v.data() + v.size() <= begin + size;
}

bool allowed_status(int s) { return s == 400 || s == 414 || s == 431 || s == 501 || s == 505; }

// A heap copy of exactly `s.size()` bytes: any read past the end is an ASan report.
std::unique_ptr<char[]> exact_copy(const std::string& s) {
  std::unique_ptr<char[]> p(new char[s.size() == 0 ? 1 : s.size()]);
  std::copy(s.begin(), s.end(), p.get());
  return p;
}

void check_request(const std::string& input, const Limits& limits, RequestHead& head, std::size_t& completes) {
  const auto bytes = exact_copy(input);
  const std::string_view buf(bytes.get(), input.size());
  ParseError err;
  const ParseResult r = parse_request(buf, limits, head, err);
  if (r == ParseResult::error) {
    REQUIRE(allowed_status(err.status));
    REQUIRE(err.reason != nullptr);
    return;
  }
  if (r == ParseResult::incomplete) return;
  ++completes;
  const char* b = buf.data();
  REQUIRE(head.head_size > 0);
  REQUIRE(head.head_size <= buf.size());
  REQUIRE(head.head_size <= limits.max_header_bytes);
  REQUIRE(inside(head.method_text, b, head.head_size));
  REQUIRE(inside(head.target, b, head.head_size));
  REQUIRE((inside(head.path, b, head.head_size) || head.path == "/"));
  REQUIRE(inside(head.query, b, head.head_size));
  REQUIRE(inside(head.host, b, head.head_size));
  REQUIRE(head.headers.size() <= limits.max_headers);
  for (const auto& h : head.headers) {
    REQUIRE(!h.name.empty());
    REQUIRE(inside(h.name, b, head.head_size));
    REQUIRE(inside(h.value, b, head.head_size));
  }
  REQUIRE((head.version_minor == 0 || head.version_minor == 1));
  // The head alone parses the same way, and no proper prefix of it is an error.
  const std::size_t size = head.head_size;
  RequestHead again;
  REQUIRE(parse_request(buf.substr(0, size), limits, again, err) == ParseResult::complete);
  REQUIRE(again.head_size == size);
  REQUIRE(again.headers.size() == head.headers.size());
  REQUIRE(parse_request(buf.substr(0, size - 1), limits, again, err) == ParseResult::incomplete);
}

void check_response(const std::string& input, const Limits& limits, Method method, ResponseHead& head,
                    std::size_t& completes) {
  const auto bytes = exact_copy(input);
  const std::string_view buf(bytes.get(), input.size());
  ParseError err;
  const ParseResult r = parse_response(buf, limits, method, head, err);
  if (r != ParseResult::complete) return;
  ++completes;
  REQUIRE(head.head_size <= buf.size());
  REQUIRE(head.status >= 100);
  REQUIRE(head.status <= 599);
  REQUIRE(inside(head.reason, buf.data(), head.head_size));
  for (const auto& h : head.headers) {
    REQUIRE(inside(h.name, buf.data(), head.head_size));
    REQUIRE(inside(h.value, buf.data(), head.head_size));
  }
  REQUIRE(parse_response(buf.substr(0, head.head_size - 1), limits, method, head, err) == ParseResult::incomplete);
}

void check_chunked(const std::string& input, Rng& rng, std::size_t& completes) {
  const auto bytes = exact_copy(input);
  const std::string_view all(bytes.get(), input.size());
  ChunkedDecoder decoder;
  std::size_t pos = 0;
  std::size_t avail = std::min(all.size(), 1 + rng.below(all.size() + 1));  // first read
  for (int guard = 0; guard < 100000; ++guard) {
    std::size_t consumed = 0;
    std::string_view out;
    const std::string_view in = all.substr(pos, avail - pos);
    const auto st = decoder.decode(in, consumed, out);
    REQUIRE(consumed <= in.size());
    if (st == ChunkedDecoder::Status::data) {
      REQUIRE(!out.empty());
      REQUIRE(inside(out, in.data(), consumed));
    }
    pos += consumed;
    if (st == ChunkedDecoder::Status::done) {
      ++completes;
      return;
    }
    if (st == ChunkedDecoder::Status::error) return;
    if (st == ChunkedDecoder::Status::need_more) {
      if (avail == all.size()) return;  // truncated input: fine
      avail = std::min(all.size(), avail + 1 + rng.below(16));
    }
  }
  FAIL("chunked decoder made no progress");
}

}  // namespace

TEST_CASE("randomized: mutated messages never crash the parsers", "[http][parser][random]") {
  const std::vector<std::string> requests = {
      "GET /index.html?lang=en HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\n"
      "Accept: text/html,*/*;q=0.8\r\nConnection: keep-alive\r\n\r\n",
      "POST /api/v1/items HTTP/1.1\r\nHost: api.test:8080\r\nContent-Type: application/json\r\n"
      "Content-Length: 13, 13\r\nExpect: 100-continue\r\n\r\n{\"a\":1}",
      "PUT http://h.test/x HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
      "GET /chat HTTP/1.1\r\nHost: [::1]:9000\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n",
  };
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
      "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
      "HTTP/1.0 304\r\nETag: \"x\"\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
  };
  const std::vector<std::string> bodies = {
      "5\r\nhello\r\n0\r\n\r\n",
      "a;ext=\"v\\\"q\";x\r\n0123456789\r\n0\r\nTrailer: v\r\n\r\n",
      "1\r\nx\r\n2;a=b\r\nyz\r\n0\r\n\r\n",
  };
  Limits small;
  small.max_request_line = 64;
  small.max_header_bytes = 160;
  small.max_headers = 4;
  const Limits defaults;
  const Method methods[] = {Method::get, Method::head, Method::connect, Method::post};

  Rng rng{0x5eed5eedULL};
  RequestHead req_head;
  ResponseHead resp_head;
  std::size_t req_complete = 0;
  std::size_t resp_complete = 0;
  std::size_t chunked_done = 0;
  constexpr int iterations = 100000;
  std::string s;
  for (int i = 0; i < iterations; ++i) {
    switch (i % 4) {
      case 0:
      case 1:
        s = requests[rng.below(requests.size())];
        mutate(s, rng);
        check_request(s, (i % 8 == 1) ? small : defaults, req_head, req_complete);
        break;
      case 2:
        s = responses[rng.below(responses.size())];
        mutate(s, rng);
        check_response(s, defaults, methods[rng.below(4)], resp_head, resp_complete);
        break;
      default:
        s = bodies[rng.below(bodies.size())];
        mutate(s, rng);
        check_chunked(s, rng, chunked_done);
        break;
    }
  }
  // The mutations are mild enough that a fair share still parses: the checks above ran.
  CHECK(req_complete > 1000);
  CHECK(resp_complete > 1000);
  CHECK(chunked_done > 1000);
}
