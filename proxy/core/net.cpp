// Address and CIDR parsing with inet_pton/inet_ntop (no Asio, see net.hpp).
#include "core/net.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <algorithm>
#include <cstring>

namespace rampart::core {
namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::optional<IpAddress> parse_v4(const std::string& text) {
  in_addr addr{};
  if (inet_pton(AF_INET, text.c_str(), &addr) != 1) return std::nullopt;
  return ip_from_v4(ntohl(addr.s_addr));
}

std::optional<IpAddress> parse_v6(const std::string& text) {
  in6_addr addr{};
  if (inet_pton(AF_INET6, text.c_str(), &addr) != 1) return std::nullopt;
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), &addr, 16);
  return ip_from_v6(bytes);
}

// RFC 1123 host name: dot-separated labels of letters, digits, '-' and '_' (the latter is common
// in service discovery names), no label empty or longer than 63, no leading/trailing '-'.
bool valid_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t label_len = 0;
  char prev = '.';
  for (char c : host) {
    if (c == '.') {
      if (label_len == 0 || prev == '-') return false;
      label_len = 0;
    } else {
      const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      if (!ok || (label_len == 0 && c == '-') || ++label_len > 63) return false;
    }
    prev = c;
  }
  return prev != '-';
}

bool all_digits_and_dots(std::string_view s) {
  for (char c : s) {
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

bool HostPort::is_ip_literal() const { return parse_ip(host).has_value(); }

std::string HostPort::str() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view text, bool allow_port_zero, std::string& error) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']'";
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    if (!parse_v6(out.host)) {
      error = "bad IPv6 address";
      return std::nullopt;
    }
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      error = "missing port";
      return std::nullopt;
    }
    if (rest.front() != ':') {
      error = "expected ':' after ']'";
      return std::nullopt;
    }
    port_text = rest.substr(1);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "missing port";
      return std::nullopt;
    }
    if (text.substr(0, colon).find(':') != std::string_view::npos) {
      error = "IPv6 addresses must be written in brackets, like [::1]:8080";
      return std::nullopt;
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.empty()) {
      error = "missing host";
      return std::nullopt;
    }
    if (all_digits_and_dots(out.host)) {
      if (!parse_v4(out.host)) {
        error = "bad IPv4 address";
        return std::nullopt;
      }
    } else if (!valid_host_name(out.host)) {
      error = "bad host name";
      return std::nullopt;
    } else {
      for (char& c : out.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (port_text.empty()) {
    error = "missing port";
    return std::nullopt;
  }
  if (port_text.size() > 5) {
    error = "bad port";
    return std::nullopt;
  }
  unsigned port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') {
      error = "bad port";
      return std::nullopt;
    }
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) {
    error = "bad port";
    return std::nullopt;
  }
  if (port == 0 && !allow_port_zero) {
    error = "port 0 is not allowed here";
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

bool IpAddress::is_v4() const {
  return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), bytes.begin());
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  const std::string s(text);
  if (auto v4 = parse_v4(s)) return v4;
  return parse_v6(s);
}

IpAddress ip_from_v4(std::uint32_t host_order) {
  IpAddress ip;
  std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), ip.bytes.begin());
  ip.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
  ip.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
  ip.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
  ip.bytes[15] = static_cast<std::uint8_t>(host_order);
  return ip;
}

IpAddress ip_from_v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress ip;
  ip.bytes = bytes;
  return ip;
}

bool Cidr::contains(const IpAddress& ip) const {
  const int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (ip.bytes[i] != base.bytes[i]) return false;
  }
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (ip.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string Cidr::str() const {
  if (base.is_v4() && prefix >= 96) return base.str() + "/" + std::to_string(prefix - 96);
  return base.str() + "/" + std::to_string(prefix);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  auto ip = parse_ip(addr_text);
  if (!ip) return std::nullopt;
  const bool v4 = addr_text.find(':') == std::string_view::npos;
  const int width = v4 ? 32 : 128;
  int bits = width;
  if (slash != std::string_view::npos) {
    const std::string_view bits_text = text.substr(slash + 1);
    if (bits_text.empty() || bits_text.size() > 3) return std::nullopt;
    bits = 0;
    for (char c : bits_text) {
      if (c < '0' || c > '9') return std::nullopt;
      bits = bits * 10 + (c - '0');
    }
    if (bits > width) return std::nullopt;
  }
  Cidr cidr;
  cidr.prefix = v4 ? bits + 96 : bits;
  cidr.base = *ip;
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(cidr.prefix - i * 8, 0, 8);
    const auto mask = static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
    cidr.base.bytes[i] &= mask;
  }
  return cidr;
}

}  // namespace rampart::core
