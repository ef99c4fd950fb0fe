// Command line of rampart-upstream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace rampart::upstream {

struct options {
  // Addresses to listen on, in order (--listen is repeatable); default 127.0.0.1:0.
  std::vector<boost::asio::ip::tcp::endpoint> listen;
  std::size_t threads = 1;
  std::string name = "upstream";
  std::uint64_t body_size = 100;
  bool help = false;
};

// Parses argv. Returns false with a message in `error` for unknown flags or bad values.
// Accepts "--flag value" and "--flag=value".
bool parse_options(int argc, char** argv, options& out, std::string& error);

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces); HOST may be "localhost".
bool parse_endpoint(const std::string& text, boost::asio::ip::tcp::endpoint& out);

// "127.0.0.1:PORT" or "[::1]:PORT".
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& ep);

inline constexpr const char* usage_text =
    "usage: rampart-upstream [--listen HOST:PORT] [--threads N] [--name NAME] [--body-size N]\n"
    "  --listen     address to listen on (default 127.0.0.1:0; port 0 picks a free port); repeatable:\n"
    "               one server on several addresses (a pool of endpoints that is one process)\n"
    "  --threads    worker threads, each with its own SO_REUSEPORT acceptor (default 1)\n"
    "  --name       name reported in X-Upstream-Name and bodies (default upstream)\n"
    "  --body-size  default response body size in bytes (default 100)\n"
    "Prints 'listening HOST:PORT' once bound (a line per address, in order); exits 0 on SIGTERM or SIGINT.\n";

}  // namespace rampart::upstream
