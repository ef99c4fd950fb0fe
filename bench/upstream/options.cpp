#include "options.hpp"

#include <charconv>
#include <string_view>

namespace rampart::upstream {

namespace asio = boost::asio;

namespace {

bool parse_u64(std::string_view s, std::uint64_t& v) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

}  // namespace

bool parse_endpoint(const std::string& text, asio::ip::tcp::endpoint& out) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::uint64_t port_number = 0;
  if (!parse_u64(port, port_number) || port_number > 65535) return false;
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return false;
  out = asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(port_number));
  return true;
}

std::string format_endpoint(const asio::ip::tcp::endpoint& ep) {
  const auto addr = ep.address();
  std::string out;
  if (addr.is_v6()) out.push_back('[');
  out.append(addr.to_string());
  if (addr.is_v6()) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(ep.port()));
  return out;
}

bool parse_options(int argc, char** argv, options& out, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const std::size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    if (arg != "--listen" && arg != "--threads" && arg != "--name" && arg != "--body-size") {
      error = "unknown option: " + arg;
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        error = "missing value for " + arg;
        return false;
      }
      value = argv[++i];
    }
    std::uint64_t n = 0;
    if (arg == "--listen") {
      boost::asio::ip::tcp::endpoint ep;
      if (!parse_endpoint(value, ep)) {
        error = "invalid --listen address: " + value;
        return false;
      }
      out.listen.push_back(ep);
    } else if (arg == "--threads") {
      if (!parse_u64(value, n) || n == 0 || n > 1024) {
        error = "invalid --threads: " + value;
        return false;
      }
      out.threads = static_cast<std::size_t>(n);
    } else if (arg == "--name") {
      // The name goes into a header value: keep it printable and single-line.
      for (char c : value) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          error = "invalid --name: control characters are not allowed";
          return false;
        }
      }
      out.name = value;
    } else {
      if (!parse_u64(value, n) || n > (std::uint64_t{1} << 40)) {
        error = "invalid --body-size: " + value;
        return false;
      }
      out.body_size = n;
    }
  }
  return true;
}

}  // namespace rampart::upstream
