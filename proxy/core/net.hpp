// Addresses and CIDR blocks, without Asio so that config/ can use them.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rampart::core {

// "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80", "localhost:9000", "api.internal:80".
// host is kept without brackets. port 0 is allowed only when allow_port_zero.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  bool is_ip_literal() const;
  std::string str() const;  // brackets IPv6 literals again
  bool operator==(const HostPort&) const = default;
};
// On failure returns nullopt and sets `error` to a short reason ("missing port", "bad port").
std::optional<HostPort> parse_host_port(std::string_view text, bool allow_port_zero, std::string& error);

// An IP address in network byte order; IPv4 is stored as an IPv4-mapped IPv6 address so that
// one comparison covers both families.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4() const;
  std::string str() const;
  bool operator==(const IpAddress&) const = default;
};
std::optional<IpAddress> parse_ip(std::string_view text);
IpAddress ip_from_v4(std::uint32_t host_order);
IpAddress ip_from_v6(const std::array<std::uint8_t, 16>& bytes);

// "10.0.0.0/8", "192.168.1.7" (= /32), "::1/128", "fd00::/8".
struct Cidr {
  IpAddress base;      // masked
  int prefix = 128;    // over the 128-bit (mapped) form
  bool contains(const IpAddress& ip) const;
  std::string str() const;
};
std::optional<Cidr> parse_cidr(std::string_view text);

}  // namespace rampart::core
