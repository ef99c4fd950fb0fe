#include "response_head.hpp"

#include <charconv>

namespace rampart::upstream {

std::string_view reason_phrase(unsigned status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

void append_decimal(std::string& out, std::uint64_t v) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, r.ptr);
}

void append_hex(std::string& out, std::uint64_t v) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, v, 16);
  out.append(digits, r.ptr);
}

void append_response_head(std::string& out, const head_spec& spec) {
  out.append("HTTP/1.1 ");
  append_decimal(out, spec.status);
  out.push_back(' ');
  out.append(reason_phrase(spec.status));
  out.append("\r\n");
  if (!spec.content_type.empty()) {
    out.append("Content-Type: ");
    out.append(spec.content_type);
    out.append("\r\n");
  }
  switch (spec.framing) {
    case body_framing::content_length:
      out.append("Content-Length: ");
      append_decimal(out, spec.content_length);
      out.append("\r\n");
      break;
    case body_framing::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case body_framing::none:
      break;
  }
  switch (spec.connection) {
    case connection_header::close: out.append("Connection: close\r\n"); break;
    case connection_header::keep_alive: out.append("Connection: keep-alive\r\n"); break;
    case connection_header::none: break;
  }
  out.append("X-Upstream-Name: ");
  out.append(spec.name);
  out.append("\r\n");
  out.append(spec.extra_headers);
  out.append("\r\n");
}

}  // namespace rampart::upstream
