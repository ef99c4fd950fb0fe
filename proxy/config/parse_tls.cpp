// Parsing of a listener's `tls:` block. Only the shape is checked here (config/ knows no
// OpenSSL); the files themselves (readable, a matching key, not expired, an OCSP response for
// the certificate) are checked when the snapshot is built, which `rampart check` and every
// reload do too.
#include "config/parse.hpp"

#include <algorithm>

#include <filesystem>

namespace rampart::config::detail {
namespace {

namespace fs = std::filesystem;


// OpenSSL cipher and group lists: printable, no spaces.
std::optional<std::string> read_list_string(Reader& r, const Value& v) {
  auto s = read_nonempty_string(r, v);
  if (!s) return std::nullopt;
  for (unsigned char c : *s) {
    if (c <= 0x20 || c >= 0x7f) {
      r.error(v.mark, v.path, "expected a colon-separated list without spaces");
      return std::nullopt;
    }
  }
  return s;
}

}  // namespace

TlsSpec parse_tls(Reader& r, const Value& v) {
  TlsSpec t;
  t.mark = r.mark(v.mark);
  MapView m(r, v,
            {"certificates", "min_version", "ciphers", "ciphersuites", "groups", "alpn", "session_tickets",
             "session_cache", "client_auth"});
  if (!m.ok()) return t;
  if (auto certs = m.require("certificates")) {
    if (auto items = read_list(r, *certs)) {
      if (items->empty()) r.error(certs->mark, certs->path, "tls needs at least one certificate");
      for (const Value& item : *items) {
        MapView c(r, item, {"cert", "key", "ocsp"});
        if (!c.ok()) continue;
        CertificateSpec cs;
        cs.mark = r.mark(item.mark);
        auto cert = c.require("cert");
        auto key = c.require("key");
        auto cert_path = cert ? read_file_path(r, *cert) : std::nullopt;
        auto key_path = key ? read_file_path(r, *key) : std::nullopt;
        if (!cert_path || !key_path) continue;
        cs.cert = *cert_path;
        cs.key = *key_path;
        if (auto ocsp = c.get("ocsp")) {
          auto ocsp_path = read_file_path(r, *ocsp);
          if (!ocsp_path) continue;
          cs.ocsp = *ocsp_path;
          cs.ocsp_mark = r.mark(ocsp->mark);
        }
        t.certificates.push_back(std::move(cs));
      }
    }
  }
  if (auto x = m.get("min_version")) {
    if (auto s = read_choice(r, *x, {"1.2", "1.3"})) t.min_version = *s;
  }
  if (auto x = m.get("ciphers")) {
    if (auto s = read_list_string(r, *x)) t.ciphers = *s;
  }
  if (auto x = m.get("ciphersuites")) {
    if (auto s = read_list_string(r, *x)) t.ciphersuites = *s;
  }
  if (auto x = m.get("groups")) {
    if (auto s = read_list_string(r, *x)) t.groups = *s;
  }
  if (auto x = m.get("alpn")) {
    if (auto items = read_string_or_list(r, *x)) {
      t.alpn.clear();
      for (const Value& item : *items) {
        auto s = read_choice(r, item, {"h2", "http/1.1"});
        if (!s) continue;
        if (std::find(t.alpn.begin(), t.alpn.end(), *s) != t.alpn.end())
          r.error(item.mark, item.path, "'" + *s + "' is listed twice");
        else
          t.alpn.push_back(*s);
      }
    }
  }
  if (auto x = m.get("session_tickets")) {
    bool is_map = false;
    if (auto on = read_switch(r, *x, is_map)) {
      t.session_tickets = *on;
    } else if (is_map) {
      MapView k(r, *x, {"key_file", "rotation"});
      if (k.ok()) {
        if (auto f = k.get("key_file")) t.ticket_key_file = read_file_path(r, *f);
        assign(k, "rotation", t.ticket_rotation, [&](const Value& d) { return read_duration(r, d); });
        if (t.ticket_rotation < std::chrono::minutes(1)) r.error(x->mark, x->path, "rotation must be at least 1m");
      }
    }
  }
  assign(m, "session_cache", t.session_cache, [&](const Value& x) { return read_uint(r, x, 0, 10000000); });
  if (auto x = m.get("client_auth")) {
    MapView c(r, *x, {"ca", "required", "subject_header"});
    if (c.ok()) {
      if (auto ca = c.require("ca")) t.client_ca = read_file_path(r, *ca);
      assign(c, "required", t.client_cert_required, [&](const Value& v) { return read_bool(r, v); });
      if (auto h = c.get("subject_header")) {
        if (auto name = read_nonempty_string(r, *h)) {
          if (is_token(*name)) t.client_subject_header = to_lower(*name);
          else r.error(h->mark, h->path, "bad header name '" + *name + "'");
        }
      }
    }
  }
  return t;
}

// A file path, made absolute against the directory of the file that names it.
std::optional<std::string> read_file_path(Reader& r, const Value& v) {
  namespace fs = std::filesystem;
  auto s = read_nonempty_string(r, v);
  if (!s) return std::nullopt;
  if (s->find('\0') != std::string::npos) {
    r.error(v.mark, v.path, "expected a file path");
    return std::nullopt;
  }
  fs::path p(*s);
  if (p.is_relative()) p = fs::path(r.file()).parent_path() / p;
  std::error_code ec;
  fs::path absolute = fs::absolute(p, ec);
  return (ec ? p : absolute).lexically_normal().string();
}

}  // namespace rampart::config::detail
