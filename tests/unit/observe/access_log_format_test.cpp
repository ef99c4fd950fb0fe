// Access-log line formatting: escaping, field selection and order, timestamps, numbers, nulls.
#include "access_log_json_check.hpp"
#include "observe/access_log.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace rampart::observe;
using rampart::observe::test::Json;
using rampart::observe::test::parse_json;

namespace {

std::string escaped(std::string_view in) {
  std::string out;
  json_escape(in, out);
  return out;
}

// Escapes `in`, checks the result is a valid JSON string and returns its decoded value.
std::string roundtrip(std::string_view in) {
  const auto doc = parse_json("\"" + escaped(in) + "\"");
  REQUIRE(doc);
  REQUIRE(doc->kind == Json::Kind::string);
  return doc->text;
}

std::chrono::system_clock::time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s, int us) {
  using namespace std::chrono;
  const sys_days date{year{y} / month{mo} / day{d}};
  return time_point_cast<system_clock::duration>(date + hours{h} + minutes{mi} + seconds{s} + microseconds{us});
}

AccessRecord full_record() {
  AccessRecord r;
  r.ts = at(2026, 11, 28, 8, 40, 1, 123456);
  r.request_id = "req-1";
  r.client_ip = "192.0.2.7";
  r.client_port = 51234;
  r.method = "GET";
  r.scheme = "https";
  r.host = "example.com";
  r.path = "/a/b";
  r.query = "x=1&y=2";
  r.protocol = "HTTP/1.1";
  r.status = 502;
  r.bytes_received = 123;
  r.bytes_sent = 4567890123ULL;
  r.duration_s = 0.001234;
  r.upstream_duration_s = 0.5;
  r.route = "api";
  r.upstream = "backend";
  r.upstream_addr = "10.0.0.1:8080";
  r.upstream_status = 503;
  r.flags = "UF,URX";
  r.tls_version = "TLSv1.3";
  r.user_agent = "curl/8.0";
  r.referer = "https://ref.example/";
  return r;
}

Json parse_line(const std::string& line) {
  REQUIRE(!line.empty());
  REQUIRE(line.back() == '\n');
  REQUIRE(line.find('\n') == line.size() - 1);
  auto doc = parse_json(line);
  REQUIRE(doc);
  REQUIRE(doc->kind == Json::Kind::object);
  return *doc;
}

FieldSet all_fields(bool query = false) {
  rampart::config::AccessLogSpec spec;
  spec.query = query;
  return FieldSet::from(spec);
}

}  // namespace

TEST_CASE("json_escape escapes quotes and backslashes", "[access_log][escape]") {
  CHECK(escaped("plain text") == "plain text");
  CHECK(escaped("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(escaped("\"\"") == "\\\"\\\"");
  CHECK(escaped("/") == "/");
  CHECK(escaped("") == "");
}

TEST_CASE("json_escape escapes every control character", "[access_log][escape]") {
  CHECK(escaped("\n") == "\\n");
  CHECK(escaped("\r") == "\\r");
  CHECK(escaped("\t") == "\\t");
  CHECK(escaped("\b") == "\\b");
  CHECK(escaped("\f") == "\\f");
  CHECK(escaped(std::string_view("\0", 1)) == "\\u0000");
  CHECK(escaped("\x01") == "\\u0001");
  CHECK(escaped("\x1b") == "\\u001b");
  CHECK(escaped("\x1f") == "\\u001f");
  CHECK(escaped("\x7f") == "\x7f");  // DEL is legal in a JSON string
  for (int c = 0; c < 0x20; ++c) {
    const std::string in(1, static_cast<char>(c));
    const std::string out = escaped(in);
    INFO("byte " << c);
    CHECK(out.size() >= 2);
    CHECK(out[0] == '\\');
    for (const char o : out) CHECK(static_cast<unsigned char>(o) >= 0x20);
    CHECK(roundtrip(in) == in);
  }
}

TEST_CASE("json_escape copies valid UTF-8 and escapes invalid bytes", "[access_log][escape]") {
  CHECK(escaped("caf\xc3\xa9") == "caf\xc3\xa9");                 // é, 2 bytes
  CHECK(escaped("\xe2\x82\xac 5") == "\xe2\x82\xac 5");           // €, 3 bytes
  CHECK(escaped("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");       // U+1F600, 4 bytes
  CHECK(escaped("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");       // U+10FFFF, the last code point
  CHECK(escaped("\xed\x9f\xbf") == "\xed\x9f\xbf");               // U+D7FF, just below the surrogates

  CHECK(escaped("\xff") == "\\u00ff");                             // never valid
  CHECK(escaped("\x80") == "\\u0080");                             // stray continuation byte
  CHECK(escaped("a\xc3") == "a\\u00c3");                           // truncated at the end
  CHECK(escaped("\xc3(") == "\\u00c3(");                           // lead byte without continuation
  CHECK(escaped("\xc0\xaf") == "\\u00c0\\u00af");                  // overlong '/'
  CHECK(escaped("\xe0\x80\xaf") == "\\u00e0\\u0080\\u00af");       // overlong 3-byte
  CHECK(escaped("\xed\xa0\x80") == "\\u00ed\\u00a0\\u0080");       // UTF-16 surrogate D800
  CHECK(escaped("\xf4\x90\x80\x80") == "\\u00f4\\u0090\\u0080\\u0080");  // above U+10FFFF
  CHECK(escaped("\xf0\x9f\x98") == "\\u00f0\\u009f\\u0098");       // truncated 4-byte
  CHECK(escaped("x\xffy\xc3\xa9z") == "x\\u00ffy\xc3\xa9z");       // valid resumes after an invalid byte

  // Invalid bytes decode as their Latin-1 reading.
  CHECK(roundtrip("\xff") == "\xc3\xbf");
  CHECK(roundtrip("caf\xc3\xa9\"\\\n") == "caf\xc3\xa9\"\\\n");
}

TEST_CASE("json_escape yields a valid JSON string for arbitrary bytes", "[access_log][escape]") {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(0, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 5000; ++i) {
    std::string in;
    const int n = len(rng);
    for (int k = 0; k < n; ++k) in.push_back(static_cast<char>(byte(rng)));
    const std::string out = escaped(in);
    INFO("case " << i);
    REQUIRE(parse_json("\"" + out + "\""));
  }
}

// The plain case copies eight bytes at a time and ends with a word overlapping the previous one:
// a byte to escape at any position of any length, alone or beside another, must come out the
// same as a byte-by-byte escaper writes it.
TEST_CASE("json_escape escapes a byte at every position of every length", "[access_log][escape]") {
  const auto reference = [](std::string_view in) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      const auto c = static_cast<unsigned char>(in[i]);
      if (c == 0xC3 && i + 1 < in.size() && static_cast<unsigned char>(in[i + 1]) == 0xA9) {
        out += "\xc3\xa9";  // the one valid UTF-8 sequence used below: copied
        ++i;
      } else if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c < 0x20 || c >= 0x80) out += std::string("\\u00") + hex[c >> 4] + hex[c & 0xF];
      else out += static_cast<char>(c);
    }
    return out;
  };
  const std::string specials[] = {"\"", "\\", "\n", "\t", std::string(1, '\x01'), "\x7f", "\x80", "\xff",
                                   "\xc3\xa9", "\xc3"};
  for (std::size_t len = 0; len <= 40; ++len) {
    const std::string base = [&] {
      std::string b;
      for (std::size_t i = 0; i < len; ++i) b.push_back(static_cast<char>('a' + i % 26));
      return b;
    }();
    CHECK(escaped(base) == base);
    for (const auto& sp : specials) {
      for (std::size_t k = 0; k + sp.size() <= len; ++k) {
        std::string one = base;
        one.replace(k, sp.size(), sp);
        INFO("len " << len << " at " << k << " special " << static_cast<int>(static_cast<unsigned char>(sp[0])));
        REQUIRE(escaped(one) == reference(one));
        for (std::size_t k2 = k + sp.size(); k2 < len; k2 += 3) {
          std::string two = one;
          two[k2] = '"';
          INFO("second at " << k2);
          REQUIRE(escaped(two) == reference(two));
        }
      }
    }
  }
}

TEST_CASE("field names map both ways", "[access_log][fields]") {
  const char* names[] = {"ts", "request_id", "client_ip", "client_port", "method", "scheme", "host", "path",
                         "protocol", "status", "bytes_received", "bytes_sent", "duration_s",
                         "upstream_duration_s", "route", "upstream", "upstream_addr", "upstream_status", "flags",
                         "tls_version", "user_agent", "referer"};
  static_assert(std::size(names) == kFieldCount);
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    const auto f = field_from_name(names[i]);
    REQUIRE(f);
    CHECK(static_cast<std::size_t>(*f) == i);
    CHECK(field_name(*f) == names[i]);
  }
  CHECK_FALSE(field_from_name("nope"));
  CHECK_FALSE(field_from_name(""));
  CHECK_FALSE(field_from_name("TS"));
}

TEST_CASE("a full line has every field in the default order with the right types", "[access_log][format]") {
  std::string line;
  format_line(full_record(), all_fields(), line);
  const Json doc = parse_line(line);
  const std::vector<std::string> expected = {
      "ts", "request_id", "client_ip", "client_port", "method", "scheme", "host", "path", "protocol", "status",
      "bytes_received", "bytes_sent", "duration_s", "upstream_duration_s", "route", "upstream", "upstream_addr",
      "upstream_status", "flags", "tls_version", "user_agent", "referer"};
  CHECK(doc.keys() == expected);

  const auto str = [&](const char* k) {
    const Json* v = doc.get(k);
    REQUIRE(v);
    REQUIRE(v->kind == Json::Kind::string);
    return v->text;
  };
  const auto num = [&](const char* k) {
    const Json* v = doc.get(k);
    REQUIRE(v);
    REQUIRE(v->kind == Json::Kind::number);
    return v->text;
  };
  CHECK(str("ts") == "2026-11-28T08:40:01.123Z");
  CHECK(str("request_id") == "req-1");
  CHECK(str("client_ip") == "192.0.2.7");
  CHECK(num("client_port") == "51234");
  CHECK(str("method") == "GET");
  CHECK(str("scheme") == "https");
  CHECK(str("host") == "example.com");
  CHECK(str("path") == "/a/b");  // query not selected
  CHECK(str("protocol") == "HTTP/1.1");
  CHECK(num("status") == "502");
  CHECK(num("bytes_received") == "123");
  CHECK(num("bytes_sent") == "4567890123");
  CHECK(num("duration_s") == "0.001234");
  CHECK(num("upstream_duration_s") == "0.500000");
  CHECK(str("route") == "api");
  CHECK(str("upstream") == "backend");
  CHECK(str("upstream_addr") == "10.0.0.1:8080");
  CHECK(num("upstream_status") == "503");
  CHECK(str("flags") == "UF,URX");
  CHECK(str("tls_version") == "TLSv1.3");
  CHECK(str("user_agent") == "curl/8.0");
  CHECK(str("referer") == "https://ref.example/");
  CHECK(line.rfind("{\"ts\":\"2026-11-28T08:40:01.123Z\",\"request_id\":\"req-1\",", 0) == 0);
}

TEST_CASE("absent values are null or empty strings", "[access_log][format]") {
  AccessRecord r;
  r.ts = at(2026, 1, 2, 3, 4, 5, 0);
  r.status = 404;
  r.flags = "NR";
  std::string line;
  format_line(r, all_fields(), line);
  const Json doc = parse_line(line);
  CHECK(doc.get("upstream_duration_s")->kind == Json::Kind::null);
  CHECK(doc.get("upstream_status")->kind == Json::Kind::null);
  CHECK(doc.get("tls_version")->kind == Json::Kind::null);
  for (const char* k : {"request_id", "client_ip", "method", "scheme", "host", "path", "protocol", "route", "upstream",
                        "upstream_addr", "user_agent", "referer"}) {
    INFO(k);
    REQUIRE(doc.get(k));
    CHECK(doc.get(k)->kind == Json::Kind::string);
    CHECK(doc.get(k)->text.empty());
  }
  CHECK(doc.get("client_port")->text == "0");
  CHECK(doc.get("duration_s")->text == "0.000000");
  CHECK(doc.get("flags")->text == "NR");
  CHECK(line.find("\"upstream_duration_s\":null") != std::string::npos);
  CHECK(line.find("\"upstream_status\":null") != std::string::npos);
  CHECK(line.find("\"tls_version\":null") != std::string::npos);
}

TEST_CASE("timestamps are RFC 3339 UTC with truncated milliseconds", "[access_log][format]") {
  rampart::config::AccessLogSpec spec;
  spec.fields = {"ts"};
  const FieldSet fields = FieldSet::from(spec);
  const auto ts_of = [&](std::chrono::system_clock::time_point tp) {
    AccessRecord r;
    r.ts = tp;
    std::string line;
    format_line(r, fields, line);
    return parse_line(line).get("ts")->text;
  };
  CHECK(ts_of(at(2026, 11, 28, 8, 40, 1, 123999)) == "2026-11-28T08:40:01.123Z");
  CHECK(ts_of(at(2024, 2, 29, 23, 59, 59, 999999)) == "2024-02-29T23:59:59.999Z");
  CHECK(ts_of(at(2000, 1, 1, 0, 0, 0, 0)) == "2000-01-01T00:00:00.000Z");
  CHECK(ts_of(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  CHECK(ts_of(at(1999, 12, 31, 23, 59, 59, 1000)) == "1999-12-31T23:59:59.001Z");
}

TEST_CASE("durations are JSON numbers with microsecond precision", "[access_log][format]") {
  rampart::config::AccessLogSpec spec;
  spec.fields = {"duration_s", "upstream_duration_s"};
  const FieldSet fields = FieldSet::from(spec);
  const auto line_of = [&](double d, std::optional<double> u) {
    AccessRecord r;
    r.duration_s = d;
    r.upstream_duration_s = u;
    std::string line;
    format_line(r, fields, line);
    parse_line(line);
    return line;
  };
  CHECK(line_of(0.001234, 12.25) == "{\"duration_s\":0.001234,\"upstream_duration_s\":12.250000}\n");
  CHECK(line_of(1.0000004, 0.0) == "{\"duration_s\":1.000000,\"upstream_duration_s\":0.000000}\n");
  CHECK(line_of(-3, std::nullopt) == "{\"duration_s\":0.000000,\"upstream_duration_s\":null}\n");
  CHECK(line_of(std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()) ==
        "{\"duration_s\":0.000000,\"upstream_duration_s\":0.000000}\n");
}

TEST_CASE("selected fields are written in the configured order", "[access_log][fields]") {
  rampart::config::AccessLogSpec spec;
  spec.fields = {"status", "ts", "path", "user_agent"};
  const FieldSet fields = FieldSet::from(spec);
  REQUIRE(fields.order.size() == 4);
  std::string line;
  format_line(full_record(), fields, line);
  const Json doc = parse_line(line);
  CHECK(doc.keys() == std::vector<std::string>{"status", "ts", "path", "user_agent"});
  CHECK(doc.get("path")->text == "/a/b");

  spec.fields.clear();
  CHECK(FieldSet::from(spec).order.size() == kFieldCount);
}

TEST_CASE("the query is appended to path only when selected", "[access_log][fields]") {
  rampart::config::AccessLogSpec spec;
  spec.fields = {"path"};
  spec.query = true;
  const FieldSet with_query = FieldSet::from(spec);
  CHECK(with_query.query);
  AccessRecord r = full_record();
  std::string line;
  format_line(r, with_query, line);
  CHECK(line == "{\"path\":\"/a/b?x=1&y=2\"}\n");

  r.query = "";
  format_line(r, with_query, line);
  CHECK(line == "{\"path\":\"/a/b\"}\n");

  spec.query = false;
  r.query = "x=1";
  format_line(r, FieldSet::from(spec), line);
  CHECK(line == "{\"path\":\"/a/b\"}\n");

  spec.query = true;
  r.query = "q=\"a\\b\"\x01";  // the query is escaped too
  format_line(r, FieldSet::from(spec), line);
  CHECK(parse_line(line).get("path")->text == "/a/b?q=\"a\\b\"\x01");
}

TEST_CASE("hostile request values still give one valid JSON line", "[access_log][format]") {
  std::string nasty;
  for (int c = 0; c < 0x20; ++c) nasty.push_back(static_cast<char>(c));
  nasty += "\"\\}{\",\"status\":1,\x7f\xff\xfe\xc3\xa9";
  AccessRecord r = full_record();
  r.user_agent = nasty;
  r.referer = nasty;
  r.host = nasty;
  r.path = nasty;
  r.method = nasty;
  r.request_id = nasty;
  std::string line;
  format_line(r, all_fields(true), line);
  const Json doc = parse_line(line);
  CHECK(doc.members.size() == kFieldCount);
  std::string decoded = nasty;  // what a JSON reader sees: \xff and \xfe become U+00FF, U+00FE
  decoded.replace(decoded.find("\xff\xfe"), 2, "\xc3\xbf\xc3\xbe");
  CHECK(doc.get("user_agent")->text == decoded);
  CHECK(doc.get("referer")->text == decoded);
  CHECK(doc.get("status")->text == "502");
}

TEST_CASE("format_line reuses the output buffer", "[access_log][format]") {
  std::string line;
  format_line(full_record(), all_fields(), line);
  const std::string first = line;
  const auto capacity = line.capacity();
  format_line(full_record(), all_fields(), line);
  CHECK(line == first);
  CHECK(line.capacity() == capacity);
}

// Every field in the default order takes a straight-line path; any other selection goes field by
// field. Both must write the same bytes, whatever the record holds (hostile strings, nulls,
// large numbers, odd durations), with and without the query.
TEST_CASE("the default-order line equals the field-by-field line for any record", "[access_log][format]") {
  std::mt19937 rng(777);
  const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const auto text = [&] {
    std::string s;
    const int n = pick(3) == 0 ? pick(40) : pick(8);
    for (int k = 0; k < n; ++k) s.push_back(static_cast<char>(pick(4) == 0 ? pick(256) : 'a' + pick(26)));
    return s;
  };
  for (const bool query : {false, true}) {
    const FieldSet fast = all_fields(query);
    REQUIRE(fast.all_in_order);
    FieldSet generic = fast;
    generic.all_in_order = false;
    // A selection naming every field in the default order is the default line too.
    rampart::config::AccessLogSpec named;
    named.query = query;
    for (std::size_t i = 0; i < kFieldCount; ++i) named.fields.emplace_back(field_name(static_cast<Field>(i)));
    CHECK(FieldSet::from(named).all_in_order);
    for (int i = 0; i < 2000; ++i) {
      std::string strings[15];
      for (auto& s : strings) s = text();
      AccessRecord r;
      r.ts = at(2020 + pick(10), 1 + pick(12), 1 + pick(28), pick(24), pick(60), pick(60), pick(1000000));
      r.request_id = strings[0], r.client_ip = strings[1], r.method = strings[2], r.scheme = strings[3];
      r.host = strings[4], r.path = strings[5], r.query = strings[6], r.protocol = strings[7];
      r.route = strings[8], r.upstream = strings[9], r.upstream_addr = strings[10], r.flags = strings[11];
      r.tls_version = pick(2) ? std::string_view(strings[12]) : std::string_view();
      r.user_agent = strings[13], r.referer = strings[14];
      r.client_port = static_cast<std::uint16_t>(pick(65536));
      r.status = pick(600);
      r.bytes_received = static_cast<std::uint64_t>(rng()) << pick(32);
      r.bytes_sent = static_cast<std::uint64_t>(rng());
      r.duration_s = std::uniform_real_distribution<double>(-1, 200)(rng);
      if (pick(2)) r.upstream_duration_s = std::uniform_real_distribution<double>(0, 20)(rng);
      r.upstream_status = pick(2) ? pick(600) : 0;
      std::string a, b;
      format_line(r, fast, a);
      format_line(r, generic, b);
      INFO("case " << i << " query " << query);
      REQUIRE(a == b);
      parse_line(a);
    }
  }
  rampart::config::AccessLogSpec reordered;
  reordered.fields = {"request_id", "ts"};
  CHECK_FALSE(FieldSet::from(reordered).all_in_order);
}
