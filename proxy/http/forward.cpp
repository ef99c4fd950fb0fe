// Proxy semantics: serializing the upstream request head and the downstream response head.
#include "http/forward.hpp"

#include <algorithm>
#include <charconv>

namespace rampart::http {

namespace {

constexpr std::string_view crlf = "\r\n";

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Values that did not come through the parser (config ops, caller-supplied info) are checked
// once more: a CR, LF or NUL would split or corrupt the head, so such a field is not written.
bool safe_value(std::string_view v) noexcept {
  for (char c : v)  // one pass (find_first_of with a set calls memchr per character)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void put_field(std::string_view name, std::string_view value, std::string& out) {
  out += name;
  out += ": ";
  out += value;
  out += crlf;
}

void put_number(std::uint64_t n, std::string& out) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, static_cast<std::size_t>(res.ptr - buf));
}

bool has_field(const std::vector<Header>& headers, std::string_view name) noexcept {
  return std::any_of(headers.begin(), headers.end(), [&](const Header& h) { return iequals(h.name, name); });
}

// Fields the forwarding code writes itself (or must never let config touch): ops naming them
// are ignored, so config cannot break the framing or the connection management.
bool is_framing(std::string_view name) noexcept {
  return is_hop_by_hop(name) || iequals(name, "content-length");
}

bool op_removes(const config::HeaderOps& ops, std::string_view name) noexcept {
  return std::any_of(ops.remove.begin(), ops.remove.end(), [&](const std::string& n) { return iequals(n, name); });
}

bool op_sets(const config::HeaderOps& ops, std::string_view name) noexcept {
  return std::any_of(ops.set.begin(), ops.set.end(), [&](const auto& kv) { return iequals(kv.first, name); });
}

// True if a field of this name is replaced or dropped by `ops` (so the original is not written).
bool op_overrides(const config::HeaderOps& ops, std::string_view name) noexcept {
  return op_removes(ops, name) || op_sets(ops, name);
}

// Writes the `set` then the `add` entries of `ops`, skipping framing fields and, when
// `skip_add_host`, any "add host" (a second Host field would make the request invalid).
void put_ops(const config::HeaderOps& ops, bool skip_add_host, std::string& out) {
  for (const auto& [name, value] : ops.set)
    if (!is_framing(name) && safe_value(name) && safe_value(value)) put_field(name, value, out);
  for (const auto& [name, value] : ops.add) {
    if (is_framing(name) || !safe_value(name) || !safe_value(value)) continue;
    if (skip_add_host && iequals(name, "host")) continue;
    put_field(name, value, out);
  }
}

// Whether the end-to-end field `h` is dropped because a Connection header names it.
bool connection_named(const std::vector<Header>& headers, bool has_connection, std::string_view name) noexcept {
  return has_connection && named_in_connection(headers, name);
}

void put_upgrade_fields(const std::vector<Header>& headers, std::string& out) {
  out += "Connection: upgrade\r\n";
  for (const auto& h : headers)
    if (iequals(h.name, "upgrade")) put_field("Upgrade", h.value, out);
}

// Writes the upstream-received fields of `headers` that survive forwarding: not hop-by-hop, not
// named in Connection, not in `skip` (fields written separately), not replaced/dropped by ops.
// `ops` may be null (no edits).
template <typename Skip>
void put_end_to_end(const std::vector<Header>& headers, const config::HeaderOps* ops, Skip skip, std::string& out) {
  const bool has_connection = has_field(headers, "connection");
  for (const auto& h : headers) {
    if (is_hop_by_hop(h.name) || skip(h.name)) continue;
    if (connection_named(headers, has_connection, h.name)) continue;
    if (ops && !ops->empty() && op_overrides(*ops, h.name)) continue;
    put_field(h.name, h.value, out);
  }
}

bool status_has_no_content(int status) noexcept { return (status >= 100 && status < 200) || status == 204; }

// Writes the body framing of a final, non-upgrade response. Returns true when only closing the
// connection can end the body (until_close towards an HTTP/1.0 client).
void put_status_line(const ResponseHead& resp, std::string& out) {
  out += "HTTP/1.1 ";
  put_number(static_cast<std::uint64_t>(resp.status), out);
  out += ' ';
  out += resp.reason.empty() ? reason_phrase(resp.status) : resp.reason;
  out += crlf;
}

bool put_response_framing(const ResponseHead& resp, const ResponseInfo& info, std::string& out) {
  if (status_has_no_content(resp.status)) return false;
  if (info.recoded) {
    if (info.head_request || resp.status == 304) return false;
    if (info.recoded_length) {
      out += "Content-Length: ";
      put_number(*info.recoded_length, out);
      out += crlf;
      return false;
    }
    if (!info.client_http11) return true;
    out += "Transfer-Encoding: chunked\r\n";
    return false;
  }
  if (info.head_request || resp.status == 304) {
    // No body follows; the Content-Length describes the representation: pass it on as received
    // (an accepted "5, 5" list is written once).
    for (const auto& h : resp.headers) {
      if (!iequals(h.name, "content-length")) continue;
      put_field("Content-Length", trim(h.value.substr(0, h.value.find(','))), out);
      break;
    }
    return false;
  }
  switch (resp.body) {
    case BodyKind::content_length:
      out += "Content-Length: ";
      put_number(resp.content_length, out);
      out += crlf;
      return false;
    case BodyKind::chunked:  // re-framed by the caller; an HTTP/1.0 client gets it close-delimited
      if (!info.client_http11) return true;
      out += "Transfer-Encoding: chunked\r\n";
      return false;
    case BodyKind::until_close:
      if (!info.client_http11) return true;
      out += "Transfer-Encoding: chunked\r\n";
      return false;
    case BodyKind::none: return false;
  }
  return false;
}

}  // namespace

bool is_hop_by_hop(std::string_view name) noexcept {
  switch (name.size()) {
    case 2: return iequals(name, "te");
    case 7: return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16: return iequals(name, "proxy-connection");
    case 17: return iequals(name, "transfer-encoding");
    default: return false;
  }
}

bool named_in_connection(const std::vector<Header>& headers, std::string_view name) noexcept {
  for (const auto& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view token = trim(rest.substr(0, comma));
      if (!token.empty() && iequals(token, name)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

void write_upstream_request(const RequestHead& req, std::string_view target, const config::HeaderOps& ops,
                            const ForwardInfo& info, std::string& out) {
  out += req.method_text;
  out += ' ';
  out += target;
  out += " HTTP/1.1\r\n";

  // Expect is answered by the proxy itself (it sends "100 Continue" when it wants the body), so
  // the upstream never sees it and never sends an interim response of its own.
  auto generated = [&](std::string_view n) {
    return iequals(n, "host") || iequals(n, "content-length") || iequals(n, "expect") || iequals(n, "x-forwarded-for") ||
           iequals(n, "x-forwarded-proto") || iequals(n, "x-forwarded-host") || iequals(n, "x-request-id") ||
           (!info.client_cert_header.empty() && iequals(n, info.client_cert_header));
  };
  put_end_to_end(req.headers, &ops, generated, out);
  put_ops(ops, /*skip_add_host=*/true, out);

  // Host is never removed; a configured "set host" was written with the ops.
  if (!op_sets(ops, "host")) put_field("Host", req.host, out);

  // Incoming X-Forwarded-* fields count only when they survived hop-by-hop removal.
  const bool has_connection = has_field(req.headers, "connection");
  auto incoming = [&](std::string_view name) {
    return info.from_trusted_proxy && !connection_named(req.headers, has_connection, name);
  };
  auto ours = [&](std::string_view name) { return !op_overrides(ops, name); };

  if (ours("x-forwarded-for")) {
    const std::size_t start = out.size();
    out += "X-Forwarded-For: ";
    const std::size_t value_start = out.size();
    if (incoming("x-forwarded-for")) {
      for (const auto& h : req.headers) {
        if (!iequals(h.name, "x-forwarded-for") || h.value.empty()) continue;
        if (out.size() > value_start) out += ", ";
        out += h.value;
      }
    }
    if (!info.client_ip.empty() && safe_value(info.client_ip)) {
      if (out.size() > value_start) out += ", ";
      out += info.client_ip;
    }
    if (out.size() == value_start)
      out.resize(start);  // nothing to say
    else
      out += crlf;
  }

  auto put_kept_or = [&](std::string_view name, std::string_view wire_name, std::string_view fallback) {
    if (!ours(name)) return;
    bool kept = false;
    if (incoming(name)) {
      for (const auto& h : req.headers) {
        if (!iequals(h.name, name)) continue;
        put_field(wire_name, h.value, out);
        kept = true;
      }
    }
    if (!kept && !fallback.empty() && safe_value(fallback)) put_field(wire_name, fallback, out);
  };
  put_kept_or("x-forwarded-proto", "X-Forwarded-Proto", info.scheme);
  put_kept_or("x-forwarded-host", "X-Forwarded-Host", req.host);

  if (ours("x-request-id") && !info.request_id.empty() && safe_value(info.request_id))
    put_field("X-Request-ID", info.request_id, out);
  if (!info.client_cert_header.empty() && !info.client_cert_subject.empty() && safe_value(info.client_cert_subject))
    put_field(info.client_cert_header, info.client_cert_subject, out);

  switch (req.body) {
    case BodyKind::content_length:
      out += "Content-Length: ";
      put_number(req.content_length, out);
      out += crlf;
      break;
    case BodyKind::chunked: out += "Transfer-Encoding: chunked\r\n"; break;
    case BodyKind::none:
    case BodyKind::until_close: break;  // until_close cannot occur for requests
  }
  if (req.upgrade) put_upgrade_fields(req.headers, out);
  out += crlf;
}

bool HeaderEdits::replaces(std::string_view name) const {
  if ((replaced_lengths >> (name.size() % 64) & 1) == 0) return false;
  for (std::size_t i = 0; i < count; ++i)
    if ((items[i].kind == HeaderEdit::Kind::set || items[i].kind == HeaderEdit::Kind::remove) && iequals(items[i].name, name))
      return true;
  return false;
}

namespace {

// Whether a Vary field of `headers` lists `name` (or "*").
bool vary_lists(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (!iequals(h.name, "vary")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      auto comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item == "*" || iequals(item, name)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

void put_edits(const HeaderEdits& edits, const std::vector<Header>* upstream, const config::HeaderOps* ops,
               std::string& out) {
  for (std::size_t i = 0; i < edits.count; ++i) {
    const HeaderEdit& e = edits.items[i];
    switch (e.kind) {
      case HeaderEdit::Kind::set:
        if (!e.line.empty())
          out += e.line;
        else if (safe_value(e.value))
          put_field(e.name, e.value, out);
        break;
      case HeaderEdit::Kind::set_default:
        if ((!upstream || !has_field(*upstream, e.name)) && !(ops && op_sets(*ops, e.name))) {
          if (!e.line.empty())
            out += e.line;
          else if (safe_value(e.value))
            put_field(e.name, e.value, out);
        }
        break;
      case HeaderEdit::Kind::vary:
        if (!upstream || !vary_lists(*upstream, e.name)) put_field("vary", e.name, out);
        break;
      case HeaderEdit::Kind::remove:
        break;
    }
  }
}

}  // namespace

void append_edit_lines(const HeaderEdits& edits, std::string& out) { put_edits(edits, nullptr, nullptr, out); }

void write_downstream_response(const ResponseHead& resp, const config::HeaderOps& ops, const ResponseInfo& info,
                               std::string& out, const HeaderEdits* edits) {
  const bool switching = resp.status == 101 && info.upgrade;
  if (resp.status >= 100 && resp.status < 200 && !switching) {
    put_status_line(resp, out);
    put_end_to_end(resp.headers, nullptr, [](std::string_view n) { return iequals(n, "content-length"); }, out);
    out += crlf;
    return;
  }

  write_downstream_fields(resp, ops, info, out, edits);
  if (switching) {
    put_upgrade_fields(resp.headers, out);
    out += crlf;
    return;
  }
  finish_downstream_head(resp, info, out);
}

void write_downstream_fields(const ResponseHead& resp, const config::HeaderOps& ops, const ResponseInfo& info,
                             std::string& out, const HeaderEdits* edits) {
  put_status_line(resp, out);
  const bool own_id = !info.request_id.empty();
  put_end_to_end(
      resp.headers, &ops,
      [own_id, edits](std::string_view n) {
        return iequals(n, "content-length") || (own_id && iequals(n, "x-request-id")) || (edits && edits->replaces(n));
      },
      out);
  put_ops(ops, /*skip_add_host=*/false, out);
  if (edits) put_edits(*edits, &resp.headers, &ops, out);
  out += info.extra_lines;
  if (own_id && !op_overrides(ops, "x-request-id") && safe_value(info.request_id))
    put_field("X-Request-ID", info.request_id, out);
}

void finish_downstream_head(const ResponseHead& resp, const ResponseInfo& info, std::string& out) {
  const bool close = put_response_framing(resp, info, out) || !info.keep_alive;
  if (close)
    out += "Connection: close\r\n";
  else if (!info.client_http11)
    out += "Connection: keep-alive\r\n";
  out += crlf;
}

void write_local_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_header_lines, std::string_view request_id, bool keep_alive,
                          bool head_request, std::string& out) {
  const bool no_content = status_has_no_content(status) || status == 304;
  out += "HTTP/1.1 ";
  put_number(static_cast<std::uint64_t>(status), out);
  out += ' ';
  out += reason_phrase(status);
  out += crlf;
  if (!no_content) {
    if (!content_type.empty())
      put_field("Content-Type", content_type, out);
    else if (!body.empty())
      put_field("Content-Type", "text/plain; charset=utf-8", out);
    out += "Content-Length: ";
    put_number(body.size(), out);
    out += crlf;
  }
  if (!request_id.empty() && safe_value(request_id)) put_field("X-Request-ID", request_id, out);
  out += extra_header_lines;
  if (!keep_alive) out += "Connection: close\r\n";
  out += crlf;
  if (!head_request && !no_content) out += body;
}

}  // namespace rampart::http
