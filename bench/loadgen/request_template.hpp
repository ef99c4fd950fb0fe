// The request rampart-bench sends, built once before the run and shared read-only by every
// thread: the complete HTTP/1.1 bytes, and the HTTP/2 header list (pseudo-headers first).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "options.hpp"

namespace rampart::bench {

struct request_template {
  std::string h1;  // request line, headers and body, ready to write
  // HTTP/2 fields in order: :method, :scheme, :authority, :path, then the others with
  // lower-case names; connection-specific headers and Host are left out (Host becomes
  // :authority).
  std::vector<std::pair<std::string, std::string>> h2_fields;
  std::string body;     // body_size bytes (also the tail of h1)
  bool head = false;    // method is HEAD: responses have no body
  std::string host;     // the Host (or :authority) value sent
};

// Builds the request from the options. HTTP/1.1: Host from the URL unless a Host header was
// given; Content-Length when there is a body or the method is POST, PUT or PATCH;
// "Connection: close" with --new-conn.
request_template build_request(const options& opts);

// The TLS server name to send: the host of the Host header (or of the URL), without a port;
// empty when that is an IP literal (RFC 6066 forbids those in SNI).
std::string sni_name(const request_template& req);

}  // namespace rampart::bench
