#include "request_template.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>

namespace rampart::bench {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_connection_specific(const std::string& lname) {
  return lname == "host" || lname == "connection" || lname == "keep-alive" || lname == "proxy-connection" ||
         lname == "transfer-encoding" || lname == "upgrade";
}

}  // namespace

request_template build_request(const options& opts) {
  request_template req;
  req.head = opts.method == "HEAD";
  req.body.assign(opts.body_size, 'x');
  req.host = opts.target.authority();
  bool user_length = false;
  for (const auto& [name, value] : opts.headers) {
    const std::string lname = lower(name);
    if (lname == "host") req.host = value;
    if (lname == "content-length") user_length = true;
  }
  const bool wants_length = opts.body_size > 0 || opts.method == "POST" || opts.method == "PUT" || opts.method == "PATCH";

  std::string& h = req.h1;
  h.reserve(256 + req.body.size());
  h += opts.method;
  h += ' ';
  h += opts.target.target;
  h += " HTTP/1.1\r\nHost: ";
  h += req.host;
  h += "\r\n";
  for (const auto& [name, value] : opts.headers) {
    if (lower(name) == "host") continue;
    h += name + ": " + value + "\r\n";
  }
  if (opts.accept_encoding) h += "Accept-Encoding: " + *opts.accept_encoding + "\r\n";
  if (wants_length && !user_length) h += "Content-Length: " + std::to_string(opts.body_size) + "\r\n";
  if (opts.new_conn) h += "Connection: close\r\n";
  h += "\r\n";
  h += req.body;

  auto& f = req.h2_fields;
  f.emplace_back(":method", opts.method);
  f.emplace_back(":scheme", opts.target.scheme);
  f.emplace_back(":authority", req.host);
  f.emplace_back(":path", opts.target.target);
  for (const auto& [name, value] : opts.headers) {
    std::string lname = lower(name);
    if (is_connection_specific(lname)) continue;
    if (lname == "te" && lower(value) != "trailers") continue;
    f.emplace_back(std::move(lname), value);
  }
  if (opts.accept_encoding) f.emplace_back("accept-encoding", *opts.accept_encoding);
  if (wants_length && !user_length) f.emplace_back("content-length", std::to_string(opts.body_size));
  return req;
}

std::string sni_name(const request_template& req) {
  std::string host = req.host;
  if (!host.empty() && host.front() == '[') return {};  // IPv6 literal
  if (const auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  unsigned char buf[16];
  if (host.empty() || inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1)
    return {};
  return host;
}

}  // namespace rampart::bench
