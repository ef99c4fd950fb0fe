// HTTP/1.x head parsers. One forward pass over the bytes: the start line, then each field line
// (syntax checked and, for the few fields that decide framing and connection handling,
// interpreted on the spot), then the cross-field rules. No allocation once the headers vector
// has grown to its working size.
#include "http/parser.hpp"

#include "http/fields.hpp"
#include "http/syntax.hpp"

#include <algorithm>

namespace rampart::http {
namespace {

using namespace detail;

// Parses field lines from `p` through the empty line. On complete, `p` is past the final CRLF.
ParseResult parse_fields(const char*& p, const char* end, const Limits& limits, std::vector<Header>& headers,
                         FieldSummary& s, bool request, ParseError& err) {
  std::string_view name;
  std::string_view value;
  const char* reason = "";
  for (;;) {
    switch (parse_field_line(p, end, name, value, reason)) {
      case Line::field:
        break;
      case Line::end:
        return ParseResult::complete;
      case Line::need_more:
        return ParseResult::incomplete;
      case Line::error:
        err = {400, reason};
        return ParseResult::error;
    }
    if (headers.size() >= limits.max_headers) {
      err = {431, "too many header fields"};
      return ParseResult::error;
    }
    headers.push_back(Header{name, value});
    if (const char* bad = on_field(s, name, value, request)) {
      err = {400, bad};
      return ParseResult::error;
    }
  }
}

Method method_of(std::string_view m) noexcept {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::get;
      if (m == "PUT") return Method::put;
      break;
    case 4:
      if (m == "HEAD") return Method::head;
      if (m == "POST") return Method::post;
      break;
    case 5:
      if (m == "PATCH") return Method::patch;
      if (m == "TRACE") return Method::trace;
      break;
    case 6:
      if (m == "DELETE") return Method::del;
      break;
    case 7:
      if (m == "OPTIONS") return Method::options;
      if (m == "CONNECT") return Method::connect;
      break;
    default:
      break;
  }
  return Method::other;
}

void split_path_query(std::string_view pq, RequestHead& out) noexcept {
  const std::size_t q = pq.find('?');
  if (q == std::string_view::npos) {
    out.path = pq;
  } else {
    out.path = pq.substr(0, q);
    out.query = pq.substr(q + 1);
  }
}

// Fills path/query (and host for absolute- and authority-form) from out.target per the four
// request-target forms of RFC 9112 §3.2. Returns a failure reason, or nullptr.
const char* classify_target(RequestHead& out, bool& target_has_authority) noexcept {
  const std::string_view t = out.target;  // non-empty, no CTL/SP/'#'/non-ASCII
  target_has_authority = false;
  if (out.method == Method::connect) {  // authority-form only, port required
    if (!valid_authority(t, true)) return "CONNECT needs authority-form target";
    out.host = t;
    target_has_authority = true;
    return nullptr;
  }
  if (t[0] == '/') {
    split_path_query(t, out);
    return nullptr;
  }
  if (t == "*") {
    if (out.method != Method::options) return "asterisk-form is for OPTIONS only";
    out.path = t;
    return nullptr;
  }
  // absolute-form: "http://" or "https://" authority [ path-abempty ] [ "?" query ].
  std::size_t scheme_len = 0;
  if (t.size() > 7 && iequals(t.substr(0, 7), "http://")) scheme_len = 7;
  else if (t.size() > 8 && iequals(t.substr(0, 8), "https://")) scheme_len = 8;
  else return "invalid request target";
  const std::string_view rest = t.substr(scheme_len);
  const std::size_t auth_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, auth_end);
  if (!valid_authority(authority, false)) return "invalid authority in request target";
  out.host = authority;
  target_has_authority = true;
  const std::string_view pq = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (pq.empty() || pq[0] == '?') {
    static constexpr std::string_view root = "/";
    out.path = root;
    if (!pq.empty()) out.query = pq.substr(1);
  } else {
    split_path_query(pq, out);
  }
  return nullptr;
}

bool persistent(int version_minor, const FieldSummary& s) noexcept {
  if (s.conn_close) return false;
  return version_minor == 1 || s.conn_keep_alive;
}

}  // namespace

ParseResult parse_request(std::string_view buf, const Limits& limits, RequestHead& out, ParseError& err) {
  out.clear();
  const char* const begin = buf.data();
  // Never look past the head limit: a head that has not ended inside it is too large anyway.
  const char* const end = begin + std::min(buf.size(), limits.max_header_bytes);
  auto fail = [&err](int status, const char* reason) {
    err = {status, reason};
    return ParseResult::error;
  };
  auto need_more = [&] {
    if (buf.size() >= limits.max_header_bytes) return fail(431, "header section too large");
    out.clear();  // incomplete keeps nothing
    return ParseResult::incomplete;
  };

  // RFC 9112 §2.2: ignore empty lines (CRLF only) before the request line.
  const char* p = begin;
  while (p < end && *p == '\r') {
    if (end - p < 2) return need_more();
    if (p[1] != '\n') return fail(400, "bare CR");
    p += 2;
  }
  const char* const line = p;
  // Out of bytes inside the request line: 414 as soon as it is provably too long.
  auto line_need_more = [&](const char* upto) {
    std::size_t len = static_cast<std::size_t>(upto - line);
    if (len > 0 && upto[-1] == '\r') --len;
    return len > limits.max_request_line ? fail(414, "request line too long") : need_more();
  };

  const char* q = p;
  while (q < end && is_tchar(*q)) ++q;
  if (q == end) return line_need_more(q);
  if (q == p || *q != ' ') return fail(400, *q == '\n' ? "bare LF" : "invalid method");
  out.method_text = std::string_view(p, static_cast<std::size_t>(q - p));

  p = ++q;
  q = scan_target(q, end);
  if (q == end) return line_need_more(q);
  if (q == p || *q != ' ') return fail(400, *q == '\n' ? "bare LF" : "invalid request target");
  out.target = std::string_view(p, static_cast<std::size_t>(q - p));

  ++q;
  static constexpr std::string_view version_pattern = "HTTP/D.D\r\n";  // 'D' = any digit
  for (std::size_t i = 0; i < version_pattern.size(); ++i) {
    if (q + i == end) return line_need_more(q + i);
    const char c = q[i];
    const char want = version_pattern[i];
    if (want == 'D' ? !is_digit(c) : c != want) {
      if (c == '\n') return fail(400, "bare LF");
      return fail(400, i == 9 ? "bare CR" : "invalid HTTP version");
    }
  }
  if (static_cast<std::size_t>(q + 8 - line) > limits.max_request_line) return fail(414, "request line too long");
  if (q[5] != '1' || (q[7] != '0' && q[7] != '1')) return fail(505, "unsupported HTTP version");
  out.version_minor = q[7] - '0';
  out.method = method_of(out.method_text);
  bool target_has_authority = false;
  if (const char* bad = classify_target(out, target_has_authority)) return fail(400, bad);
  p = q + version_pattern.size();

  FieldSummary s;
  const ParseResult r = parse_fields(p, end, limits, out.headers, s, true, err);
  if (r == ParseResult::incomplete) return need_more();
  if (r == ParseResult::error) return r;
  out.head_size = static_cast<std::size_t>(p - begin);

  if (s.host_count == 0 && out.version_minor == 1) return fail(400, "missing Host");
  if (!target_has_authority) out.host = s.host;

  if (s.has_te) {
    if (out.version_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0 request");
    if (s.has_cl) return fail(400, "Content-Length with Transfer-Encoding");
    if (s.te_duplicate_chunked || !s.te_last_chunked) return fail(400, "chunked is not the final transfer coding");
    if (s.te_other) return fail(501, "unsupported transfer coding");
    out.body = BodyKind::chunked;
  } else if (s.has_cl) {
    out.body = BodyKind::content_length;
    out.content_length = s.cl;
  }
  out.keep_alive = persistent(out.version_minor, s);
  out.expect_continue = out.version_minor == 1 && s.expect_continue;
  out.upgrade = out.version_minor == 1 && s.conn_upgrade && s.has_upgrade;
  return ParseResult::complete;
}

ParseResult parse_response(std::string_view buf, const Limits& limits, Method request_method, ResponseHead& out,
                           ParseError& err) {
  out.clear();
  const char* const begin = buf.data();
  const char* const end = begin + std::min(buf.size(), limits.max_header_bytes);
  auto fail = [&err](int status, const char* reason) {
    err = {status, reason};
    return ParseResult::error;
  };
  auto need_more = [&] {
    if (buf.size() >= limits.max_header_bytes) return fail(431, "header section too large");
    out.clear();  // incomplete keeps nothing
    return ParseResult::incomplete;
  };
  auto line_need_more = [&](const char* upto) {
    std::size_t len = static_cast<std::size_t>(upto - begin);
    if (len > 0 && upto[-1] == '\r') --len;
    return len > limits.max_request_line ? fail(400, "status line too long") : need_more();
  };

  // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF; the SP before an empty
  // reason may be missing.
  const char* q = begin;
  static constexpr std::string_view pattern = "HTTP/D.D DDD";
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (q + i == end) return line_need_more(q + i);
    const char c = q[i];
    const char want = pattern[i];
    if (want == 'D' ? !is_digit(c) : c != want) return fail(400, c == '\n' ? "bare LF" : "invalid status line");
  }
  if (q[5] != '1' || (q[7] != '0' && q[7] != '1')) return fail(505, "unsupported HTTP version");
  out.version_minor = q[7] - '0';
  out.status = (q[9] - '0') * 100 + (q[10] - '0') * 10 + (q[11] - '0');
  if (out.status < 100 || out.status > 599) return fail(400, "invalid status code");
  q += pattern.size();
  if (q == end) return line_need_more(q);
  const char* reason = q;
  if (*q == ' ') {
    reason = ++q;
    q = scan_value(q, end);
  }
  if (q == end) return line_need_more(q);
  if (*q != '\r') return fail(400, *q == '\n' ? "bare LF" : "invalid reason phrase");
  if (q + 1 == end) return line_need_more(q + 1);
  if (q[1] != '\n') return fail(400, "bare CR");
  if (static_cast<std::size_t>(q - begin) > limits.max_request_line) return fail(400, "status line too long");
  out.reason = std::string_view(reason, static_cast<std::size_t>(q - reason));
  const char* p = q + 2;

  FieldSummary s;
  const ParseResult r = parse_fields(p, end, limits, out.headers, s, false, err);
  if (r == ParseResult::incomplete) return need_more();
  if (r == ParseResult::error) return r;
  out.head_size = static_cast<std::size_t>(p - begin);

  if (s.has_te) {
    if (out.version_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0 response");
    if (s.has_cl) return fail(400, "Content-Length with Transfer-Encoding");
    if (s.te_duplicate_chunked) return fail(400, "chunked applied more than once");
    // A coding under chunked that we would forward without its Transfer-Encoding would corrupt
    // the body; refuse it rather than guess.
    if (s.te_last_chunked && s.te_other) return fail(501, "unsupported transfer coding");
  }
  if (s.has_cl) out.content_length = s.cl;

  const bool no_body = out.status < 200 || out.status == 204 || out.status == 304 ||
                       request_method == Method::head ||
                       (request_method == Method::connect && out.status / 100 == 2);
  if (no_body) out.body = BodyKind::none;
  else if (s.has_te) out.body = s.te_last_chunked ? BodyKind::chunked : BodyKind::until_close;
  else if (s.has_cl) out.body = BodyKind::content_length;
  else out.body = BodyKind::until_close;
  out.keep_alive = persistent(out.version_minor, s) && out.body != BodyKind::until_close;
  return ParseResult::complete;
}

}  // namespace rampart::http
