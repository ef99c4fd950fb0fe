#include "request_head.hpp"

#include <charconv>
#include <cstring>

namespace rampart::upstream {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

// Calls f(token) for each comma-separated, trimmed, non-empty element of a list value.
template <class F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Position just past the blank line ending the head, or npos. `from` is where the search for
// line ends may start; `*resume` receives where the next search should start.
std::size_t find_head_end(std::string_view in, std::size_t from, std::size_t* resume) {
  std::size_t i = from;
  while (true) {
    const void* hit = std::memchr(in.data() + i, '\n', in.size() - i);
    if (hit == nullptr) {
      *resume = in.size();
      return std::string_view::npos;
    }
    const std::size_t nl = static_cast<const char*>(hit) - in.data();
    // The line after this '\n' is empty if it is "\n" or "\r\n".
    if (nl + 1 < in.size() && in[nl + 1] == '\n') return nl + 2;
    if (nl + 2 < in.size() && in[nl + 1] == '\r' && in[nl + 2] == '\n') return nl + 3;
    if (nl + 2 >= in.size()) {
      // Not enough bytes to decide: resume at this '\n' when more arrive.
      *resume = nl;
      return std::string_view::npos;
    }
    i = nl + 1;
  }
}

// Parses "HTTP/1.x"; returns the minor version or -1.
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 7) != "HTTP/1." || v[7] < '0' || v[7] > '9') return -1;
  return v[7] == '0' ? 0 : 1;
}

bool parse_decimal(std::string_view s, std::uint64_t& value) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), value);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

parse_result fail(unsigned status) {
  parse_result r;
  r.state = parse_state::error;
  r.status = status;
  return r;
}

// Interprets the fields the server acts on. Returns 0 or an error status.
unsigned interpret_field(const header_field& f, request_head& out) {
  if (iequals(f.name, "content-length")) {
    // A list of identical values ("5, 5") is tolerated, as RFC 9110 allows.
    unsigned status = 0;
    for_each_token(f.value, [&](std::string_view item) {
      std::uint64_t v = 0;
      if (!parse_decimal(item, v)) status = 400;
      else if (out.has_content_length && out.content_length != v) status = 400;
      else {
        out.has_content_length = true;
        out.content_length = v;
      }
    });
    if (status == 0 && !out.has_content_length) status = 400;  // empty value
    return status;
  }
  if (iequals(f.name, "transfer-encoding")) {
    out.has_transfer_encoding = true;
    for_each_token(f.value, [&](std::string_view item) {
      const std::size_t semi = item.find(';');
      out.chunked = iequals(trim(item.substr(0, semi)), "chunked");
    });
    return 0;
  }
  if (iequals(f.name, "connection")) {
    for_each_token(f.value, [&](std::string_view item) {
      if (iequals(item, "close")) out.connection_close = true;
      else if (iequals(item, "keep-alive")) out.connection_keep_alive = true;
      else if (iequals(item, "upgrade")) out.connection_upgrade = true;
    });
    return 0;
  }
  if (iequals(f.name, "upgrade")) {
    for_each_token(f.value, [&](std::string_view item) {
      const std::size_t slash = item.find('/');
      if (iequals(trim(item.substr(0, slash)), "websocket")) out.upgrade_websocket = true;
    });
    return 0;
  }
  if (iequals(f.name, "expect")) {
    if (iequals(f.value, "100-continue")) out.expect_continue = true;
    return 0;
  }
  return 0;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

parse_result parse_request_head(std::string_view in, request_head& out, std::size_t resume_from) {
  // Skip empty lines before the request line (RFC 9112 section 2.2 allows ignoring them).
  std::size_t start = 0;
  while (start < in.size() && (in[start] == '\r' || in[start] == '\n')) ++start;
  if (start == in.size()) {
    parse_result r;
    r.resume_from = 0;
    if (in.size() > max_head_bytes) return fail(400);
    return r;
  }

  std::size_t resume = 0;
  const std::size_t from = resume_from > start ? resume_from : start;
  const std::size_t end = find_head_end(in, from, &resume);
  if (end == std::string_view::npos) {
    if (in.size() >= max_head_bytes) return fail(431);
    parse_result r;
    r.resume_from = resume;
    return r;
  }
  if (end > max_head_bytes) return fail(431);

  out.reset();

  // Walk the lines of [start, end).
  std::string_view head = in.substr(start, end - start);
  auto next_line = [&head]() {
    const std::size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  // Request line: method SP target SP version (runs of spaces tolerated).
  std::string_view line = next_line();
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(400);
  out.method = line.substr(0, sp1);
  std::string_view rest = line.substr(sp1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return fail(400);
  out.target = rest.substr(0, sp2);
  rest.remove_prefix(sp2);
  out.version = trim(rest);
  if (!is_token(out.method) || out.target.empty()) return fail(400);
  for (char c : out.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) return fail(400);
  if (out.version.size() < 5 || out.version.substr(0, 5) != "HTTP/") return fail(400);
  const int minor = parse_version(out.version);
  if (minor < 0) return fail(505);
  out.version_minor = minor;
  const std::size_t qmark = out.target.find('?');
  out.path = out.target.substr(0, qmark);
  out.query = qmark == std::string_view::npos ? std::string_view{} : out.target.substr(qmark + 1);

  // Header fields until the blank line.
  while (true) {
    line = next_line();
    if (line.empty()) break;
    if (is_ows(line.front())) return fail(400);  // obs-fold: rejected (RFC 9112 5.2)
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail(400);
    header_field f{line.substr(0, colon), trim(line.substr(colon + 1))};
    if (!is_token(f.name)) return fail(400);
    for (char c : f.value)
      if (c == '\0' || c == '\r' || c == '\n') return fail(400);
    if (out.field_count == out.fields.size()) return fail(431);
    out.fields[out.field_count++] = f;
    if (const unsigned status = interpret_field(f, out); status != 0) return fail(status);
  }

  // A transfer coding other than a final "chunked" cannot be framed (RFC 9112 6.3).
  if (out.has_transfer_encoding && !out.chunked) return fail(501);

  parse_result r;
  r.state = parse_state::complete;
  r.consumed = end;
  return r;
}

}  // namespace rampart::upstream
