#include "core/net.hpp"

#include <catch2/catch.hpp>

using namespace rampart::core;

namespace {
HostPort must_parse(std::string_view text, bool allow_zero = false) {
  std::string error;
  auto hp = parse_host_port(text, allow_zero, error);
  INFO(text << ": " << error);
  REQUIRE(hp.has_value());
  return *hp;
}

std::string parse_error(std::string_view text, bool allow_zero = false) {
  std::string error;
  auto hp = parse_host_port(text, allow_zero, error);
  CHECK_FALSE(hp.has_value());
  return error;
}
}  // namespace

TEST_CASE("parse_host_port: valid forms", "[net]") {
  CHECK(must_parse("127.0.0.1:8080") == HostPort{"127.0.0.1", 8080});
  CHECK(must_parse("[::1]:8080") == HostPort{"::1", 8080});
  CHECK(must_parse("localhost:9000") == HostPort{"localhost", 9000});
  CHECK(must_parse("API.Internal:80") == HostPort{"api.internal", 80});
  CHECK(must_parse("my_svc.ns.svc:65535").port == 65535);
  CHECK(must_parse("0.0.0.0:0", true) == HostPort{"0.0.0.0", 0});
  CHECK(must_parse("[::]:0", true).port == 0);
}

TEST_CASE("parse_host_port: errors", "[net]") {
  CHECK(parse_error("127.0.0.1") == "missing port");
  CHECK(parse_error("127.0.0.1:") == "missing port");
  CHECK(parse_error("[::1]") == "missing port");
  CHECK(parse_error(":80") == "missing host");
  CHECK(parse_error("host:65536") == "bad port");
  CHECK(parse_error("host:8o") == "bad port");
  CHECK(parse_error("host:-1") == "bad port");
  CHECK(parse_error("host:0") == "port 0 is not allowed here");
  CHECK(parse_error("::1:80") == "IPv6 addresses must be written in brackets, like [::1]:8080");
  CHECK(parse_error("[::1:80") == "missing ']'");
  CHECK(parse_error("[::g]:80") == "bad IPv6 address");
  CHECK(parse_error("[::1]x80") == "expected ':' after ']'");
  CHECK(parse_error("256.1.1.1:80") == "bad IPv4 address");
  CHECK(parse_error("bad host:80") == "bad host name");
  CHECK(parse_error("-bad.com:80") == "bad host name");
  CHECK(parse_error("a..b:80") == "bad host name");
}

TEST_CASE("HostPort::str and is_ip_literal", "[net]") {
  CHECK(must_parse("[::1]:8080").str() == "[::1]:8080");
  CHECK(must_parse("10.1.2.3:80").str() == "10.1.2.3:80");
  CHECK(must_parse("[::1]:8080").is_ip_literal());
  CHECK(must_parse("10.1.2.3:80").is_ip_literal());
  CHECK_FALSE(must_parse("example.com:80").is_ip_literal());
}

TEST_CASE("parse_ip maps IPv4 into IPv6", "[net]") {
  auto v4 = parse_ip("192.168.1.7");
  REQUIRE(v4);
  CHECK(v4->is_v4());
  CHECK(v4->str() == "192.168.1.7");
  CHECK(*v4 == ip_from_v4(0xC0A80107));
  CHECK(parse_ip("::ffff:192.168.1.7") == v4);
  auto v6 = parse_ip("2001:db8::1");
  REQUIRE(v6);
  CHECK_FALSE(v6->is_v4());
  CHECK(v6->str() == "2001:db8::1");
  CHECK(v6->bytes[0] == 0x20);
  CHECK(v6->bytes[15] == 0x01);
  CHECK_FALSE(parse_ip("1.2.3"));
  CHECK_FALSE(parse_ip("example.com"));
  CHECK_FALSE(parse_ip(""));
}

TEST_CASE("parse_cidr and contains", "[net]") {
  auto ten = parse_cidr("10.0.0.0/8");
  REQUIRE(ten);
  CHECK(ten->prefix == 96 + 8);
  CHECK(ten->str() == "10.0.0.0/8");
  CHECK(ten->contains(*parse_ip("10.255.1.2")));
  CHECK_FALSE(ten->contains(*parse_ip("11.0.0.1")));
  CHECK_FALSE(ten->contains(*parse_ip("::a00:1")));  // not the v4-mapped form

  auto masked = parse_cidr("192.168.1.77/28");
  REQUIRE(masked);
  CHECK(masked->str() == "192.168.1.64/28");
  CHECK(masked->contains(*parse_ip("192.168.1.79")));
  CHECK_FALSE(masked->contains(*parse_ip("192.168.1.80")));

  auto host = parse_cidr("192.168.1.7");
  REQUIRE(host);
  CHECK(host->str() == "192.168.1.7/32");
  CHECK(host->contains(*parse_ip("192.168.1.7")));
  CHECK_FALSE(host->contains(*parse_ip("192.168.1.6")));

  auto v6 = parse_cidr("fd00::/8");
  REQUIRE(v6);
  CHECK(v6->str() == "fd00::/8");
  CHECK(v6->contains(*parse_ip("fdab::1")));
  CHECK_FALSE(v6->contains(*parse_ip("fe80::1")));
  CHECK(parse_cidr("::1/128")->contains(*parse_ip("::1")));

  auto all = parse_cidr("0.0.0.0/0");
  REQUIRE(all);
  CHECK(all->contains(*parse_ip("8.8.8.8")));
  CHECK_FALSE(all->contains(*parse_ip("2001:db8::1")));
  CHECK(parse_cidr("::/0")->contains(*parse_ip("2001:db8::1")));
}

TEST_CASE("parse_cidr rejects bad blocks", "[net]") {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8", "/8", "",
                          "10.0.0.0/-1", "10.0.0.0/8/8", "example.com/8"}) {
    INFO(bad);
    CHECK_FALSE(parse_cidr(bad));
  }
}
