#include "http/parser.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace rampart::http;
using Status = ChunkedDecoder::Status;

namespace {

struct Outcome {
  Status status = Status::need_more;
  std::string body;
  std::size_t used = 0;  // bytes of the wire the decoder consumed in total
  std::uint64_t body_bytes = 0;
};

// Plays a session: the wire arrives in pieces cut at `cuts` (ascending positions); each piece is
// appended to a pending buffer and the decoder is handed everything it has not consumed yet.
Outcome run(std::string_view wire, const std::vector<std::size_t>& cuts) {
  ChunkedDecoder decoder;
  Outcome o;
  std::string pending;
  std::size_t pos = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(wire.size());
  for (const std::size_t cut : ends) {
    pending.append(wire.substr(pos, cut - pos));
    pos = cut;
    for (;;) {
      std::size_t consumed = 999999;
      std::string_view out;
      o.status = decoder.decode(pending, consumed, out);
      REQUIRE(consumed <= pending.size());
      if (o.status == Status::data) {
        REQUIRE_FALSE(out.empty());
        REQUIRE(out.data() >= pending.data());
        REQUIRE(out.data() + out.size() <= pending.data() + consumed);
        o.body.append(out);
      } else {
        REQUIRE(out.empty());
      }
      o.used += consumed;
      pending.erase(0, consumed);
      if (o.status == Status::done || o.status == Status::error) {
        o.body_bytes = decoder.body_bytes();
        return o;
      }
      if (o.status == Status::need_more) break;
    }
  }
  o.body_bytes = decoder.body_bytes();
  return o;
}

Outcome run_whole(std::string_view wire) { return run(wire, {}); }

Outcome run_bytewise(std::string_view wire) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return run(wire, cuts);
}

struct Valid {
  std::string wire;
  std::string body;
};

const std::vector<Valid>& valid_bodies() {
  static const std::vector<Valid> cases = {
      {"5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"0\r\n\r\n", ""},
      {"A\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n", "0123456789x"},
      {"1f\r\n" + std::string(31, 'z') + "\r\n0\r\n\r\n", std::string(31, 'z')},
      {"1F\r\n" + std::string(31, 'y') + "\r\n0000\r\n\r\n", std::string(31, 'y')},
      {"0005\r\nhello\r\n0\r\n\r\n", "hello"},
      {"4;a=b;c=\"q\\\"d;e\" ; f = g;flag\r\nwxyz\r\n0;last\r\n\r\n", "wxyz"},
      {"3;x=\"\"\r\nabc\r\n0\r\nTrailer-A: 1\r\nX-Checksum:  y z \r\nEmpty:\r\n\r\n", "abc"},
      {"2\r\n\r\n\r\n0\r\n\r\n", "\r\n"},
      {"5\r\n0\r\n\r\n\r\n0\r\n\r\n", "0\r\n\r\n"},
  };
  return cases;
}

}  // namespace

TEST_CASE("chunked: valid bodies decode whole, byte by byte and at every split point", "[http][chunked]") {
  for (const auto& c : valid_bodies()) {
    INFO("wire: " << c.wire);
    const std::string wire = c.wire + "NEXT REQUEST";  // bytes after the body are not consumed
    auto whole = run_whole(wire);
    CHECK(whole.status == Status::done);
    CHECK(whole.body == c.body);
    CHECK(whole.used == c.wire.size());
    CHECK(whole.body_bytes == c.body.size());

    auto bytewise = run_bytewise(wire);
    CHECK(bytewise.status == Status::done);
    CHECK(bytewise.body == c.body);
    CHECK(bytewise.used == c.wire.size());

    for (std::size_t cut = 1; cut < c.wire.size(); ++cut) {
      INFO("split at " << cut);
      auto split = run(wire, {cut});
      CHECK(split.status == Status::done);
      CHECK(split.body == c.body);
      CHECK(split.used == c.wire.size());
    }
    // Every proper prefix only ever needs more.
    for (std::size_t n = 0; n < c.wire.size(); ++n) {
      INFO("prefix " << n);
      CHECK(run_whole(std::string_view(c.wire).substr(0, n)).status == Status::need_more);
    }
  }
}

TEST_CASE("chunked: malformed bodies are errors however they arrive", "[http][chunked]") {
  const std::vector<std::string> bad = {
      "x\r\n",
      " 5\r\nhello\r\n0\r\n\r\n",
      "5 \r\nhello\r\n0\r\n\r\n",
      "5\t\r\nhello\r\n0\r\n\r\n",
      "+5\r\nhello\r\n0\r\n\r\n",
      "0x5\r\nhello\r\n0\r\n\r\n",
      "5\nhello\r\n0\r\n\r\n",
      "5\rhello\r\n0\r\n\r\n",
      "\r\n5\r\nhello\r\n0\r\n\r\n",
      "5\r\nhelloX\r\n0\r\n\r\n",
      "5\r\nhello\n0\r\n\r\n",
      "5\r\nhello\r0\r\n\r\n",
      "5;\r\nhello\r\n0\r\n\r\n",
      "5;a=\r\nhello\r\n0\r\n\r\n",
      "5;a=\"open\r\nhello\r\n0\r\n\r\n",
      "5;a b\r\nhello\r\n0\r\n\r\n",
      "5;a=b c\r\nhello\r\n0\r\n\r\n",
      "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
      "5;a \r\nhello\r\n0\r\n\r\n",
      "4000000000000001\r\n",
      "FFFFFFFFFFFFFFFFFFFF\r\n",
      "0\r\nX : y\r\n\r\n",
      "0\r\n folded\r\n\r\n",
      "0\r\nX: a\x01\r\n\r\n",
      "0\r\nX: a\x7f\r\n\r\n",
      "0\r\nX: y\n\r\n",
      "0\r\nX: y\r\n\n",
      "0\r\nno-colon\r\n\r\n",
      "0\r\n\rX",
      "0\n\r\n",
  };
  for (const auto& wire : bad) {
    INFO("wire: " << wire);
    CHECK(run_whole(wire).status == Status::error);
    CHECK(run_bytewise(wire).status == Status::error);
  }
}

TEST_CASE("chunked: size limits", "[http][chunked]") {
  SECTION("2^62 is the largest chunk size") {
    auto o = run_whole("4000000000000000\r\nabc");
    CHECK(o.status == Status::need_more);
    CHECK(o.body == "abc");
  }
  SECTION("a size line of 4096 bytes is fine, 4097 is not") {
    const std::string ok = "1;" + std::string(4094, 'e') + "\r\nx\r\n0\r\n\r\n";
    CHECK(run_whole(ok).status == Status::done);
    const std::string over = "1;" + std::string(4095, 'e') + "\r\nx\r\n0\r\n\r\n";
    CHECK(run_whole(over).status == Status::error);
  }
  SECTION("an endless size line is refused before its CRLF") {
    const std::string endless = "1;" + std::string(5000, 'e');
    auto o = run_bytewise(endless);
    CHECK(o.status == Status::error);
  }
  SECTION("trailers are capped at 16 KiB") {
    std::string small = "0\r\n";
    std::string big = "0\r\n";
    for (int i = 0; i < 100; ++i) small += "X-T: " + std::string(100, 'v') + "\r\n";
    for (int i = 0; i < 200; ++i) big += "X-T: " + std::string(100, 'v') + "\r\n";
    small += "\r\n";
    big += "\r\n";
    CHECK(run_whole(small).status == Status::done);
    CHECK(run_whole(big).status == Status::error);
    CHECK(run(big, {5000, 10000, 15000}).status == Status::error);
  }
  SECTION("an endless trailer line is refused before its CRLF") {
    const std::string endless = "0\r\nX-T: " + std::string(20000, 'v');
    CHECK(run_whole(endless).status == Status::error);
    CHECK(run(endless, {100, 8000, 16000}).status == Status::error);
  }
}

TEST_CASE("chunked: decoder contract details", "[http][chunked]") {
  ChunkedDecoder d;
  std::size_t consumed = 77;
  std::string_view out;
  SECTION("empty input needs more") {
    CHECK(d.decode("", consumed, out) == Status::need_more);
    CHECK(consumed == 0);
  }
  SECTION("a partial size line is left unconsumed") {
    CHECK(d.decode("1a;x=", consumed, out) == Status::need_more);
    CHECK(consumed == 0);
  }
  SECTION("data is handed out as it arrives and partial CRLF waits") {
    CHECK(d.decode("a\r\nabc", consumed, out) == Status::data);
    CHECK(consumed == 6);
    CHECK(out == "abc");
    CHECK(d.decode("defghij\r", consumed, out) == Status::data);
    CHECK(out == "defghij");
    CHECK(consumed == 7);
    CHECK(d.decode("\r", consumed, out) == Status::need_more);
    CHECK(consumed == 0);
    CHECK(d.decode("\r\n0\r\n\r\nrest", consumed, out) == Status::done);
    CHECK(consumed == 7);
    CHECK(d.body_bytes() == 10);
    CHECK(d.decode("rest", consumed, out) == Status::done);
    CHECK(consumed == 0);
    d.reset();
    CHECK(d.body_bytes() == 0);
    CHECK(d.decode("1\r\nz", consumed, out) == Status::data);
    CHECK(out == "z");
  }
  SECTION("errors are sticky") {
    CHECK(d.decode("g\r\n", consumed, out) == Status::error);
    CHECK(d.decode("5\r\nhello", consumed, out) == Status::error);
    d.reset();
    CHECK(d.decode("5\r\nhello", consumed, out) == Status::data);
  }
}

TEST_CASE("chunked: kept trailers are the valid fields a trailer may carry, in order", "[http][chunked]") {
  const std::string body =
      "3\r\nabc\r\n0\r\ngrpc-status: 0\r\nContent-Length: 5\r\ngrpc-message:  all good \r\nHost: x\r\nX-Sum: 9\r\n\r\n";
  // Whole, and one byte at a time (lines re-presented with more bytes, as callers do).
  for (bool bytewise : {false, true}) {
    ChunkedDecoder d;
    std::string trailers;
    d.keep_trailers(&trailers);
    std::string data;
    std::size_t fed = 0, pending = 0;  // bytes given so far; bytes left unconsumed at the front
    ChunkedDecoder::Status st = ChunkedDecoder::Status::need_more;
    while (st != ChunkedDecoder::Status::done && st != ChunkedDecoder::Status::error) {
      const std::size_t give = bytewise ? std::min<std::size_t>(fed + 1, body.size()) : body.size();
      std::string_view in(body.data() + fed - pending, give - (fed - pending));
      std::size_t consumed = 0;
      std::string_view out;
      st = d.decode(in, consumed, out);
      if (st == ChunkedDecoder::Status::data) data.append(out);
      pending = in.size() - consumed;
      fed = give;
      if (st == ChunkedDecoder::Status::need_more && fed == body.size() && pending == 0) break;
    }
    INFO("bytewise " << bytewise);
    REQUIRE(st == ChunkedDecoder::Status::done);
    CHECK(data == "abc");
    CHECK(trailers == "grpc-status: 0\r\ngrpc-message: all good\r\nX-Sum: 9\r\n");
  }
  // Without keep_trailers they are validated and dropped; a bad one is still an error.
  ChunkedDecoder d;
  std::size_t consumed = 0;
  std::string_view out;
  const std::string bad = "0\r\nbad field: x\r\n\r\n";
  CHECK(d.decode(bad, consumed, out) == ChunkedDecoder::Status::error);
}

TEST_CASE("chunked feed: writes split anywhere, size and trailer lines included, decode whole", "[http][chunked]") {
  const std::string body = "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\ngrpc-status: 0\r\n\r\n";
  for (std::size_t a = 0; a < body.size(); ++a) {  // the first write never holds the whole body
    for (std::size_t b = a; b <= body.size(); b += 3) {
      ChunkedFeed f;
      std::string trailers;
      f.decoder().keep_trailers(&trailers);
      std::string data;
      const auto on_data = [&](std::string_view piece) {
        data.append(piece);
        return true;
      };
      INFO("splits at " << a << " and " << b);
      CHECK(f.feed(std::string_view(body).substr(0, a), on_data) == ChunkedFeed::Result::more);
      CHECK(f.feed(std::string_view(body).substr(a, b - a), on_data) == (b == body.size() ? ChunkedFeed::Result::done : ChunkedFeed::Result::more));
      if (b < body.size()) CHECK(f.feed(std::string_view(body).substr(b), on_data) == ChunkedFeed::Result::done);
      CHECK(data == "helloabcdefghijklmnopqrstuvwxyz");
      CHECK(trailers == "grpc-status: 0\r\n");
    }
  }
  // Bytes after the end, a malformed size line, and a refusing sink are errors.
  const auto take = [](std::string_view) { return true; };
  ChunkedFeed after;
  CHECK(after.feed("0\r\n\r\nX", take) == ChunkedFeed::Result::error);
  ChunkedFeed bad;
  CHECK(bad.feed("zz\r\n", take) == ChunkedFeed::Result::error);
  ChunkedFeed refused;
  CHECK(refused.feed("3\r\nabc\r\n", [](std::string_view) { return false; }) == ChunkedFeed::Result::error);
}
