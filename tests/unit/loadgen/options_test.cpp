#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "options.hpp"
#include "request_template.hpp"

using namespace rampart::bench;

namespace {
bool parse(std::vector<const char*> args, options& o, std::string& err) {
  args.insert(args.begin(), "rampart-bench");
  return parse_options(static_cast<int>(args.size()), args.data(), o, err);
}
}  // namespace

TEST_CASE("parse_url splits scheme, host, port and target") {
  url u;
  std::string err;
  REQUIRE(parse_url("http://127.0.0.1:8081/a/b?x=1#frag", u, err));
  CHECK(u.scheme == "http");
  CHECK(u.host == "127.0.0.1");
  CHECK(u.port == 8081);
  CHECK(u.target == "/a/b?x=1");
  CHECK(u.authority() == "127.0.0.1:8081");

  REQUIRE(parse_url("https://example.com", u, err));
  CHECK(u.port == 443);
  CHECK(u.target == "/");
  CHECK(u.tls());
  CHECK(u.authority() == "example.com");

  REQUIRE(parse_url("http://[::1]:9000?q", u, err));
  CHECK(u.host == "::1");
  CHECK(u.port == 9000);
  CHECK(u.target == "/?q");
  CHECK(u.authority() == "[::1]:9000");

  CHECK_FALSE(parse_url("ftp://x/", u, err));
  CHECK_FALSE(parse_url("127.0.0.1:80/", u, err));
  CHECK_FALSE(parse_url("http://:80/", u, err));
  CHECK_FALSE(parse_url("http://h:0/", u, err));
  CHECK_FALSE(parse_url("http://h:70000/", u, err));
  CHECK_FALSE(parse_url("http://h:/", u, err));
  CHECK_FALSE(parse_url("http://user@h/", u, err));
  CHECK_FALSE(parse_url("http://[::1/", u, err));
}

TEST_CASE("parse_duration understands units") {
  CHECK(parse_duration("10s") == 10'000'000'000);
  CHECK(parse_duration("500ms") == 500'000'000);
  CHECK(parse_duration("1.5s") == 1'500'000'000);
  CHECK(parse_duration("250us") == 250'000);
  CHECK(parse_duration("2m") == 120'000'000'000);
  CHECK(parse_duration("3") == 3'000'000'000);
  CHECK(parse_duration("0") == 0);
  CHECK_FALSE(parse_duration("").has_value());
  CHECK_FALSE(parse_duration("s").has_value());
  CHECK_FALSE(parse_duration("5x").has_value());
  CHECK_FALSE(parse_duration("-1s").has_value());
  CHECK_FALSE(parse_duration("1.2.3s").has_value());
}

TEST_CASE("parse_options: defaults") {
  options o;
  std::string err;
  REQUIRE(parse({"http://127.0.0.1:1/"}, o, err));
  CHECK(o.connections == 64);
  CHECK(o.duration_ns == 10'000'000'000);
  CHECK(o.warmup_ns == 1'000'000'000);
  CHECK(o.threads == 1);
  CHECK(o.streams == 1);
  CHECK_FALSE(o.open_loop());
  CHECK(o.session_reuse);
  CHECK(o.method == "GET");
  CHECK(o.timeout_ns == 10'000'000'000);
}

TEST_CASE("parse_options: short, attached, long and = forms") {
  options o;
  std::string err;
  REQUIRE(parse({"-c64", "-d", "5s", "--warmup=0", "-t2", "--threads", "2", "-R", "1000", "-X", "POST", "-H",
                 "X-A: 1", "--header=X-B:  two  ", "-b", "100", "--accept-encoding", "gzip", "--timeout", "2s",
                 "--json", "-q", "--new-conn", "--no-session-reuse", "https://h:8443/p"},
                o, err));
  CHECK(o.connections == 64);
  CHECK(o.duration_ns == 5'000'000'000);
  CHECK(o.warmup_ns == 0);
  CHECK(o.threads == 2);
  CHECK(o.rate == 1000);
  CHECK(o.open_loop());
  CHECK(o.method == "POST");
  REQUIRE(o.headers.size() == 2);
  CHECK(o.headers[0] == std::pair<std::string, std::string>("X-A", "1"));
  CHECK(o.headers[1] == std::pair<std::string, std::string>("X-B", "two"));
  CHECK(o.body_size == 100);
  CHECK(o.accept_encoding == "gzip");
  CHECK(o.timeout_ns == 2'000'000'000);
  CHECK(o.json);
  CHECK(o.quiet);
  CHECK(o.new_conn);
  CHECK_FALSE(o.session_reuse);
  CHECK(o.target.port == 8443);
  CHECK(o.url_text == "https://h:8443/p");
}

TEST_CASE("parse_options: usage errors") {
  options o;
  std::string err;
  CHECK_FALSE(parse({}, o, err));
  CHECK(err == "no URL given");
  CHECK_FALSE(parse({"--bogus", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-c", "0", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-c", "x", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-d", "0s", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-R", "-5", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-H", "NoColon", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-H", "Bad Name: v", "http://h/"}, o, err));
  CHECK_FALSE(parse({"http://h/", "-c"}, o, err));
  CHECK_FALSE(parse({"--h2", "http://h/"}, o, err));
  CHECK_FALSE(parse({"-m", "8", "https://h/"}, o, err));
  CHECK_FALSE(parse({"--h2", "--new-conn", "https://h/"}, o, err));
  CHECK_FALSE(parse({"-c", "2", "-t", "4", "http://h/"}, o, err));
  CHECK_FALSE(parse({"--json=1", "http://h/"}, o, err));
  CHECK_FALSE(parse({"http://a/", "http://b/"}, o, err));
  REQUIRE(parse({"--h2", "-m", "8", "https://h/"}, o, err));
  CHECK(o.streams == 8);
  REQUIRE(parse({"--help"}, o, err));
  CHECK(o.help);
}

TEST_CASE("build_request makes the HTTP/1.1 bytes and the HTTP/2 fields") {
  options o;
  std::string err;
  REQUIRE(parse({"-X", "POST", "-b", "3", "-H", "X-Test: yes", "--accept-encoding", "gzip", "http://127.0.0.1:81/u?x"},
                o, err));
  auto r = build_request(o);
  CHECK(r.h1 ==
        "POST /u?x HTTP/1.1\r\nHost: 127.0.0.1:81\r\nX-Test: yes\r\nAccept-Encoding: gzip\r\n"
        "Content-Length: 3\r\n\r\nxxx");
  REQUIRE(r.h2_fields.size() == 7);
  CHECK(r.h2_fields[0].first == ":method");
  CHECK(r.h2_fields[2] == std::pair<std::string, std::string>(":authority", "127.0.0.1:81"));
  CHECK(r.h2_fields[4] == std::pair<std::string, std::string>("x-test", "yes"));
  CHECK(r.h2_fields[6] == std::pair<std::string, std::string>("content-length", "3"));
  CHECK(sni_name(r).empty());  // IP literal: no SNI

  REQUIRE(parse({"--new-conn", "-H", "Host: example.org:8443", "-H", "Connection: keep-alive", "https://127.0.0.1:8443/"},
                o, err));
  r = build_request(o);
  CHECK(r.h1 == "GET / HTTP/1.1\r\nHost: example.org:8443\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
  CHECK(r.host == "example.org:8443");
  CHECK(sni_name(r) == "example.org");
  REQUIRE(r.h2_fields.size() == 4);  // host and connection are not HTTP/2 fields
  CHECK(r.h2_fields[2].second == "example.org:8443");

  REQUIRE(parse({"-X", "HEAD", "http://h/"}, o, err));
  r = build_request(o);
  CHECK(r.head);
  CHECK(r.h1 == "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
}
