// Parsing of the operations blocks: admin, access_log, log, and a route's access_log switch.
#include "config/parse.hpp"

#include <algorithm>
#include <filesystem>

namespace rampart::config::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t min_buffer_size = 4 * 1024;
constexpr std::uint64_t max_buffer_size = 1024 * 1024 * 1024;

// "stdout", "stderr", or a file path made absolute against `main_dir`.
std::optional<std::string> read_log_path(Reader& r, const Value& v, const std::string& main_dir) {
  auto s = read_nonempty_string(r, v);
  if (!s) return std::nullopt;
  if (*s == "stdout" || *s == "stderr") return s;
  if (s->find('\0') != std::string::npos || s->back() == '/') {
    r.error(v.mark, v.path, "expected stdout, stderr or a file path");
    return std::nullopt;
  }
  fs::path p(*s);
  if (p.is_relative()) {
    std::error_code ec;
    fs::path absolute = fs::absolute(fs::path(main_dir) / p, ec);
    p = ec ? fs::path(main_dir) / p : absolute;
  }
  return p.lexically_normal().string();
}

void read_fields(Reader& r, const Value& v, std::vector<std::string>& out) {
  auto items = read_list(r, v);
  if (!items) return;
  const std::vector<std::string>& known = access_log_field_names();
  for (const Value& item : *items) {
    auto s = read_string(r, item);
    if (!s) continue;
    if (std::find(known.begin(), known.end(), *s) == known.end()) {
      r.error(item.mark, item.path, "unknown access log field '" + *s + "'" + did_you_mean(*s, known));
      continue;
    }
    if (std::find(out.begin(), out.end(), *s) != out.end()) {
      r.error(item.mark, item.path, "field '" + *s + "' is listed twice");
      continue;
    }
    out.push_back(*s);
  }
}

}  // namespace

// `true`, `false` or a mapping. A scalar yields its boolean; a mapping yields nullopt with
// `is_map` set; anything else is reported and yields nullopt with `is_map` clear.
std::optional<bool> read_switch(Reader& r, const Value& v, bool& is_map) {
  is_map = v.node.IsDefined() && v.node.IsMap();
  if (is_map) return std::nullopt;
  if (v.node.IsDefined() && v.node.IsScalar()) {
    const std::string s = to_lower(v.node.Scalar());
    if (s == "true") return true;
    if (s == "false") return false;
  }
  r.error(v.mark, v.path, "expected true, false or a mapping");
  return std::nullopt;
}

// One of `choices`, with a did-you-mean suggestion otherwise.
std::optional<std::string> read_choice(Reader& r, const Value& v, const std::vector<std::string>& choices) {
  auto s = read_string(r, v);
  if (!s) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  r.error(v.mark, v.path, "expected one of " + list + did_you_mean(*s, choices));
  return std::nullopt;
}


const std::vector<std::string>& access_log_field_names() {
  static const std::vector<std::string> names{
      "ts",       "request_id",     "client_ip",  "client_port",         "method", "scheme",
      "host",     "path",           "protocol",   "status",              "bytes_received",
      "bytes_sent", "duration_s",   "upstream_duration_s", "route",      "upstream",
      "upstream_addr", "upstream_status", "flags", "tls_version",        "user_agent", "referer"};
  return names;
}

AdminSpec parse_admin(Reader& r, const Value& v, Xref& x) {
  AdminSpec spec;
  spec.mark = r.mark(v.mark);
  bool is_map = false;
  if (auto enabled = read_switch(r, v, is_map)) spec.enabled = *enabled;
  if (!is_map) return spec;
  MapView m(r, v, {"enabled", "address"});
  if (!m.ok()) return spec;
  assign(m, "enabled", spec.enabled, [&](const Value& b) { return read_bool(r, b); });
  if (auto address = m.get("address")) {
    if (auto s = read_string(r, *address)) {
      std::string why;
      if (auto hp = core::parse_host_port(*s, /*allow_port_zero=*/true, why)) {
        spec.address = *hp;
        x.admin_address = Site{hp->str(), r.mark(address->mark), address->path};
      } else {
        r.error(address->mark, address->path, "bad address '" + *s + "': " + why);
      }
    }
  }
  return spec;
}

AccessLogSpec parse_access_log(Reader& r, const Value& v, const std::string& main_dir) {
  AccessLogSpec spec;
  spec.mark = r.mark(v.mark);
  bool is_map = false;
  if (auto enabled = read_switch(r, v, is_map)) spec.enabled = *enabled;
  if (!is_map) return spec;
  // Writing the block turns the log on unless it says `enabled: false`.
  spec.enabled = true;
  MapView m(r, v, {"enabled", "path", "fields", "sample", "query", "buffer_size"});
  if (!m.ok()) return spec;
  assign(m, "enabled", spec.enabled, [&](const Value& b) { return read_bool(r, b); });
  assign(m, "path", spec.path, [&](const Value& p) { return read_log_path(r, p, main_dir); });
  if (auto fields = m.get("fields")) read_fields(r, *fields, spec.fields);
  assign(m, "sample", spec.sample, [&](const Value& n) { return read_number(r, n, 0.0, 1.0); });
  assign(m, "query", spec.query, [&](const Value& b) { return read_bool(r, b); });
  if (auto size = m.get("buffer_size")) {
    if (auto n = read_size(r, *size, max_buffer_size)) {
      if (*n >= min_buffer_size) spec.buffer_size = *n;
      else r.error(size->mark, size->path, "must be at least 4k");
    }
  }
  return spec;
}

LogSpec parse_log(Reader& r, const Value& v) {
  LogSpec spec;
  spec.mark = r.mark(v.mark);
  MapView m(r, v, {"format", "level"});
  if (!m.ok()) return spec;
  assign(m, "format", spec.format, [&](const Value& s) { return read_choice(r, s, {"text", "json"}); });
  assign(m, "level", spec.level,
         [&](const Value& s) { return read_choice(r, s, {"debug", "info", "warn", "error"}); });
  return spec;
}

void parse_route_access_log(Reader& r, const Value& v, RouteSpec& route) {
  bool is_map = false;
  if (auto enabled = read_switch(r, v, is_map)) route.access_log = *enabled;
  if (!is_map) return;
  MapView m(r, v, {"sample"});
  if (!m.ok()) return;
  route.access_log = true;
  if (auto sample = m.get("sample")) route.access_log_sample = read_number(r, *sample, 0.0, 1.0);
}

}  // namespace rampart::config::detail
