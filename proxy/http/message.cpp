#include "http/message.hpp"

#include <cstdint>
#include <cstring>

namespace rampart::http {

void RequestHead::clear() {
  method_text = {};
  method = Method::other;
  target = {};
  path = {};
  query = {};
  version_minor = 1;
  headers.clear();  // keeps capacity: no allocation on the next parse
  host = {};
  body = BodyKind::none;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  upgrade = false;
  head_size = 0;
}

void ResponseHead::clear() {
  status = 0;
  reason = {};
  version_minor = 1;
  headers.clear();
  body = BodyKind::none;
  content_length = 0;
  keep_alive = true;
  head_size = 0;
}

namespace {

// Eight bytes with the ASCII capitals A-Z made small, all other bytes (>= 0x80 too) unchanged.
// Per byte, without carries between bytes: the low seven bits plus 0x3F reach 0x80 from 'A' up,
// plus 0x25 from past 'Z' up; a byte with its top bit set is never a capital.
std::uint64_t fold8(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
  const std::uint64_t low7 = w & ~high;
  const std::uint64_t from_a = low7 + ones * (0x80 - 'A');
  const std::uint64_t past_z = low7 + ones * (0x80 - 'Z' - 1);
  const std::uint64_t capital = from_a & ~past_z & ~w & high;
  return w | (capital >> 2);  // 0x80 >> 2 == 0x20, the case bit
}

std::uint64_t load_le(const char* p, std::size_t n) {  // n <= 8 bytes, zero-extended
  std::uint64_t w = 0;
  std::memcpy(&w, p, n);
  return w;
}

}  // namespace

// Header names are compared on every request, many times: eight bytes at a time, the last word
// overlapping the one before it (never reading outside either view).
bool iequals_bytes(const char* x, const char* y, std::size_t n) noexcept {
  if (n < 8) return n == 0 || fold8(load_le(x, n)) == fold8(load_le(y, n));
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (fold8(load_le(x + i, 8)) != fold8(load_le(y + i, 8))) return false;
  }
  return i == n || fold8(load_le(x + n - 8, 8)) == fold8(load_le(y + n - 8, 8));
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
  }
}

}  // namespace rampart::http
