// Parsing of upstream pools (endpoints, balancing, health checks, outlier detection, circuit
// breaking, retry budget, DNS discovery) and of a route's retry policy.
#include "config/parse.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>

namespace rampart::config::detail {
namespace {

constexpr std::uint64_t u32_max = UINT32_MAX;

// "127.0.0.1:9001" or {address: "api:8080", weight: 3}.
std::optional<EndpointSpec> parse_endpoint(Reader& r, const Value& v) {
  EndpointSpec ep;
  std::optional<Value> address = v;
  if (v.node.IsDefined() && v.node.IsMap()) {
    MapView m(r, v, {"address", "weight"});
    if (!m.ok()) return std::nullopt;
    address = m.require("address");
    assign(m, "weight", ep.weight, [&](const Value& x) { return read_uint(r, x, 1, 1000); });
    if (!address) return std::nullopt;
  }
  auto s = read_string(r, *address);
  if (!s) return std::nullopt;
  std::string why;
  auto hp = core::parse_host_port(*s, /*allow_port_zero=*/false, why);
  if (!hp) {
    r.error(address->mark, address->path, "bad address '" + *s + "': " + why);
    return std::nullopt;
  }
  ep.address = *hp;
  return ep;
}

// `client_ip`, `path`, {header: name} or {cookie: name}.
std::optional<HashKeySpec> parse_hash_key(Reader& r, const Value& v) {
  HashKeySpec k;
  if (v.node.IsDefined() && v.node.IsMap()) {
    MapView m(r, v, {"header", "cookie"});
    if (!m.ok()) return std::nullopt;
    auto h = m.get("header");
    auto c = m.get("cookie");
    if (h.has_value() == c.has_value()) {
      r.error(v.mark, v.path, "expected exactly one of header or cookie");
      return std::nullopt;
    }
    auto name = read_nonempty_string(r, h ? *h : *c);
    if (!name) return std::nullopt;
    if (!is_token(*name)) {
      r.error((h ? *h : *c).mark, (h ? *h : *c).path, "bad " + std::string(h ? "header" : "cookie") + " name '" + *name + "'");
      return std::nullopt;
    }
    k.source = h ? HashKeySpec::Source::header : HashKeySpec::Source::cookie;
    k.name = h ? to_lower(*name) : *name;
    return k;
  }
  auto s = read_choice(r, v, {"client_ip", "path"});
  if (!s) return std::nullopt;
  k.source = *s == "path" ? HashKeySpec::Source::path : HashKeySpec::Source::client_ip;
  return k;
}

std::optional<LoadBalanceSpec::Policy> read_policy(Reader& r, const Value& v) {
  auto s = read_choice(r, v, {"round_robin", "least_request", "random", "hash"});
  if (!s) return std::nullopt;
  if (*s == "least_request") return LoadBalanceSpec::Policy::least_request;
  if (*s == "random") return LoadBalanceSpec::Policy::random;
  if (*s == "hash") return LoadBalanceSpec::Policy::hash;
  return LoadBalanceSpec::Policy::round_robin;
}

// `balance: least_request` or {policy, key, slow_start}.
LoadBalanceSpec parse_balance(Reader& r, const Value& v) {
  LoadBalanceSpec b;
  if (!(v.node.IsDefined() && v.node.IsMap())) {
    if (auto p = read_policy(r, v)) b.policy = *p;
    if (b.policy == LoadBalanceSpec::Policy::hash)
      r.error(v.mark, v.path, "balance hash needs a key: {policy: hash, key: client_ip | path | {header: name} | {cookie: name}}");
    return b;
  }
  MapView m(r, v, {"policy", "key", "slow_start"});
  if (!m.ok()) return b;
  if (auto p = m.require("policy")) {
    if (auto pol = read_policy(r, *p)) b.policy = *pol;
  }
  if (auto k = m.get("key")) {
    if (b.policy != LoadBalanceSpec::Policy::hash) r.error(k->mark, k->path, "key is for policy hash only");
    else if (auto key = parse_hash_key(r, *k)) b.hash_key = *key;
  } else if (b.policy == LoadBalanceSpec::Policy::hash && m.has("policy")) {
    r.error(v.mark, v.path, "policy hash needs a key: client_ip, path, {header: name} or {cookie: name}");
  }
  if (auto ss = m.get("slow_start")) {
    if (b.policy == LoadBalanceSpec::Policy::hash) r.error(ss->mark, ss->path, "slow_start does not apply to policy hash");
    else if (auto d = read_duration(r, *ss)) {
      if (d->count() <= 0) r.error(ss->mark, ss->path, "slow_start must be positive");
      else b.slow_start = *d;
    }
  }
  return b;
}

// 200, "200-299", or a list of them.
void read_status_ranges(Reader& r, const Value& v, std::vector<std::pair<int, int>>& out) {
  auto items = read_string_or_list(r, v);
  if (!items) return;
  out.clear();
  for (const Value& item : *items) {
    auto s = read_string(r, item);
    if (!s) continue;
    auto num = [](std::string_view t, int& x) {
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), x);
      return ec == std::errc() && p == t.data() + t.size() && x >= 100 && x <= 599;
    };
    const std::string_view t = *s;
    const auto dash = t.find('-');
    int lo = 0, hi = 0;
    bool ok = dash == std::string_view::npos ? num(t, lo) && num(t, hi)
                                             : num(t.substr(0, dash), lo) && num(t.substr(dash + 1), hi) && lo <= hi;
    if (!ok) {
      r.error(item.mark, item.path, "expected a status like 200 or a range like 200-299 (100..599)");
      continue;
    }
    out.emplace_back(lo, hi);
  }
  if (out.empty() && r.error_count() == 0) r.error(v.mark, v.path, "expect_status needs at least one status");
}

HealthCheckSpec parse_health_check(Reader& r, const Value& v) {
  HealthCheckSpec h;
  MapView m(r, v,
            {"type", "method", "path", "host", "expect_status", "body_contains", "interval", "timeout", "jitter",
             "healthy_threshold", "unhealthy_threshold", "start"});
  if (!m.ok()) return h;
  if (auto t = m.get("type")) {
    if (auto s = read_choice(r, *t, {"http", "tcp"})) h.type = *s == "tcp" ? HealthCheckSpec::Type::tcp : HealthCheckSpec::Type::http;
  }
  const bool http = h.type == HealthCheckSpec::Type::http;
  for (const char* key : {"method", "path", "host", "expect_status", "body_contains"}) {
    if (auto x = m.get(key); x && !http) r.error(x->mark, x->path, std::string(key) + " is for type http only");
  }
  if (auto x = m.get("method"); x && http) {
    if (auto s = read_nonempty_string(r, *x)) {
      if (is_token(*s)) h.method = to_upper(*s);
      else r.error(x->mark, x->path, "bad HTTP method '" + *s + "'");
    }
  }
  if (auto x = m.get("path"); x && http) {
    if (auto s = read_nonempty_string(r, *x)) {
      bool ok = s->front() == '/';
      for (unsigned char c : *s) ok = ok && c > 0x20 && c < 0x7f;
      if (ok) h.path = *s;
      else r.error(x->mark, x->path, "expected a path starting with '/' without spaces or control characters");
    }
  }
  if (auto x = m.get("host"); x && http) {
    if (auto s = read_nonempty_string(r, *x)) {
      bool ok = true;
      for (unsigned char c : *s) ok = ok && c > 0x20 && c < 0x7f;
      if (ok) h.host = *s;
      else r.error(x->mark, x->path, "expected a host name without spaces or control characters");
    }
  }
  if (auto x = m.get("expect_status"); x && http) read_status_ranges(r, *x, h.expect_status);
  if (auto x = m.get("body_contains"); x && http) {
    if (auto s = read_nonempty_string(r, *x)) h.body_contains = *s;
  }
  auto duration = [&](const Value& x) { return read_duration(r, x); };
  assign(m, "interval", h.interval, duration);
  assign(m, "timeout", h.timeout, duration);
  if (h.interval.count() <= 0) r.error(v.mark, v.path, "interval must be positive");
  if (h.timeout.count() <= 0) r.error(v.mark, v.path, "timeout must be positive");
  assign(m, "jitter", h.jitter, [&](const Value& x) { return read_number(r, x, 0.0, 0.5); });
  assign(m, "healthy_threshold", h.healthy_threshold, [&](const Value& x) { return read_uint(r, x, 1, 100); });
  assign(m, "unhealthy_threshold", h.unhealthy_threshold, [&](const Value& x) { return read_uint(r, x, 1, 100); });
  if (auto x = m.get("start")) {
    if (auto s = read_choice(r, *x, {"healthy", "unknown"})) h.start_healthy = *s == "healthy";
  }
  return h;
}

OutlierSpec parse_outlier(Reader& r, const Value& v) {
  OutlierSpec o;
  bool is_map = false;
  if (auto on = read_switch(r, v, is_map)) {
    if (!*on) o.consecutive_failures = o.consecutive_5xx = 0;
    return o;
  }
  if (!is_map) return o;
  MapView m(r, v,
            {"consecutive_failures", "consecutive_5xx", "base_ejection_time", "max_ejection_time",
             "max_ejected_percent"});
  if (!m.ok()) return o;
  assign(m, "consecutive_failures", o.consecutive_failures, [&](const Value& x) { return read_uint(r, x, 0, 1000); });
  assign(m, "consecutive_5xx", o.consecutive_5xx, [&](const Value& x) { return read_uint(r, x, 0, 1000); });
  auto duration = [&](const Value& x) { return read_duration(r, x); };
  assign(m, "base_ejection_time", o.base_ejection_time, duration);
  assign(m, "max_ejection_time", o.max_ejection_time, duration);
  assign(m, "max_ejected_percent", o.max_ejected_percent, [&](const Value& x) { return read_uint(r, x, 0, 100); });
  if (o.base_ejection_time.count() <= 0) r.error(v.mark, v.path, "base_ejection_time must be positive");
  if (o.max_ejection_time < o.base_ejection_time)
    r.error(v.mark, v.path, "max_ejection_time must be at least base_ejection_time");
  return o;
}

CircuitSpec parse_circuit(Reader& r, const Value& v) {
  CircuitSpec c;
  MapView m(r, v, {"max_connections", "max_pending", "max_requests"});
  if (!m.ok()) return c;
  auto count = [&](const Value& x) { return read_uint(r, x, 0, u32_max); };
  assign(m, "max_connections", c.max_connections, count);
  assign(m, "max_pending", c.max_pending, count);
  assign(m, "max_requests", c.max_requests, count);
  if (auto p = m.get("max_pending"); p && c.max_connections == 0)
    r.error(p->mark, p->path, "max_pending needs max_connections (requests wait for a connection only when their number is capped)");
  return c;
}

RetryBudgetSpec parse_retry_budget(Reader& r, const Value& v) {
  RetryBudgetSpec b;
  MapView m(r, v, {"percent", "min_retries"});
  if (!m.ok()) return b;
  assign(m, "percent", b.percent, [&](const Value& x) { return read_number(r, x, 0.0, 100.0); });
  assign(m, "min_retries", b.min_retries, [&](const Value& x) { return read_uint(r, x, 0, u32_max); });
  return b;
}

DiscoverySpec parse_discovery(Reader& r, const Value& v) {
  DiscoverySpec d;
  MapView m(r, v, {"refresh", "resolver"});
  if (!m.ok()) return d;
  if (auto x = m.get("refresh")) {
    if (auto dur = read_duration(r, *x)) {
      if (*dur < std::chrono::milliseconds(100)) r.error(x->mark, x->path, "refresh must be at least 100ms");
      else d.refresh = *dur;
    }
  }
  if (auto x = m.get("resolver")) {
    if (auto s = read_string(r, *x)) {
      std::string why;
      auto hp = core::parse_host_port(*s, /*allow_port_zero=*/false, why);
      if (!hp) r.error(x->mark, x->path, "bad resolver address '" + *s + "': " + why);
      else if (!core::parse_ip(hp->host)) r.error(x->mark, x->path, "resolver must be an IP address and port, like 127.0.0.1:53");
      else d.resolver = *hp;
    }
  }
  return d;
}


// A DNS name as SNI carries it: letters, digits, '-', '.', '_' ; no IP literal, no trailing dot.
bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_')) return false;
  return !core::parse_ip(std::string(s));
}

// `tls: true | false | {ca, server_name, alpn, verify, min_version, client_cert: {cert, key}}`.
std::optional<UpstreamTlsSpec> parse_upstream_tls(Reader& r, const Value& v) {
  UpstreamTlsSpec t;
  t.mark = r.mark(v.mark);
  bool is_map = false;
  if (auto on = read_switch(r, v, is_map)) {
    if (!*on) return std::nullopt;
    return t;
  }
  if (!is_map) return std::nullopt;
  MapView m(r, v, {"ca", "server_name", "alpn", "verify", "min_version", "client_cert"});
  if (!m.ok()) return t;
  if (auto x = m.get("ca")) {
    t.ca = read_file_path(r, *x);
    t.ca_mark = r.mark(x->mark);
  }
  if (auto x = m.get("server_name")) {
    if (auto s = read_nonempty_string(r, *x)) {
      std::string name = to_lower(*s);
      if (core::parse_ip(name)) t.server_name = name;  // an IP: verified against IP SANs, sent as no SNI
      else if (is_dns_name(name)) t.server_name = name;
      else r.error(x->mark, x->path, "expected a DNS name or an IP address, like api.internal");
    }
  }
  if (auto x = m.get("alpn")) {
    if (auto items = read_string_or_list(r, *x)) {
      t.alpn.clear();
      for (const Value& item : *items)
        if (auto s = read_choice(r, item, {"h2", "http/1.1"})) t.alpn.push_back(*s);
      t.alpn_written = std::pair{r.mark(x->mark), x->path};
    }
  }
  assign(m, "verify", t.verify, [&](const Value& x) { return read_bool(r, x); });
  if (auto x = m.get("min_version")) {
    if (auto s = read_choice(r, *x, {"1.2", "1.3", "TLSv1.2", "TLSv1.3"})) t.min_version = s->substr(s->size() - 3);
  }
  if (auto x = m.get("client_cert")) {
    MapView c(r, *x, {"cert", "key"});
    if (c.ok()) {
      CertificateSpec cs;
      cs.mark = r.mark(x->mark);
      auto cert = c.require("cert");
      auto key = c.require("key");
      auto cert_path = cert ? read_file_path(r, *cert) : std::nullopt;
      auto key_path = key ? read_file_path(r, *key) : std::nullopt;
      if (cert_path && key_path) {
        cs.cert = *cert_path;
        cs.key = *key_path;
        t.client_cert = cs;
      }
    }
  }
  return t;
}

}  // namespace

UpstreamSpec parse_upstream(Reader& r, const Value& v, Xref& x) {
  UpstreamSpec spec;
  spec.mark = r.mark(v.mark);
  MapView m(r, v,
            {"name", "endpoints", "balance", "health_check", "outlier", "when_all_unhealthy", "circuit",
             "retry_budget", "discovery", "max_idle_per_endpoint", "idle_timeout", "max_requests_per_connection",
             "max_connection_lifetime", "connect_timeout", "tls", "protocol", "h2_max_streams"});
  if (!m.ok()) {
    x.upstream_names.push_back(Site{});
    return spec;
  }
  if (auto name = read_name(r, m, x.upstream_names)) spec.name = *name;
  if (auto endpoints = m.get("endpoints")) {
    if (auto items = read_list(r, *endpoints)) {
      if (items->empty()) r.error(endpoints->mark, endpoints->path, "upstream has no endpoints");
      for (const Value& item : *items) {
        auto ep = parse_endpoint(r, item);
        if (!ep) continue;
        auto same = std::find_if(spec.endpoints.begin(), spec.endpoints.end(),
                                 [&](const EndpointSpec& e) { return e.address.str() == ep->address.str(); });
        if (same != spec.endpoints.end()) {
          r.error(item.mark, item.path, "endpoint '" + ep->address.str() + "' is listed twice (use weight instead)");
          continue;
        }
        spec.endpoints.push_back(*ep);
      }
    }
  } else {
    r.error(v.mark, v.path.empty() ? "endpoints" : v.path + ".endpoints", "upstream has no endpoints");
  }
  if (auto b = m.get("balance")) spec.balance = parse_balance(r, *b);
  if (auto h = m.get("health_check")) spec.health_check = parse_health_check(r, *h);
  if (auto o = m.get("outlier")) spec.outlier = parse_outlier(r, *o);
  if (auto w = m.get("when_all_unhealthy")) {
    if (auto s = read_choice(r, *w, {"panic", "fail"})) spec.panic = *s == "panic";
  }
  if (auto c = m.get("circuit")) spec.circuit = parse_circuit(r, *c);
  if (auto b = m.get("retry_budget")) spec.retry_budget = parse_retry_budget(r, *b);
  if (auto d = m.get("discovery")) spec.discovery = parse_discovery(r, *d);
  auto count = [&](const Value& x) { return read_uint(r, x, 0, u32_max); };
  auto duration = [&](const Value& x) { return read_duration(r, x); };
  assign(m, "max_idle_per_endpoint", spec.max_idle_per_endpoint, count);
  assign(m, "idle_timeout", spec.idle_timeout, duration);
  assign(m, "max_requests_per_connection", spec.max_requests_per_connection, count);
  assign(m, "max_connection_lifetime", spec.max_connection_lifetime, duration);
  assign(m, "connect_timeout", spec.connect_timeout, duration);
  if (auto t = m.get("tls")) spec.tls = parse_upstream_tls(r, *t);
  if (auto p = m.get("protocol")) {
    if (auto s = read_choice(r, *p, {"http/1.1", "h2"})) spec.protocol = *s;
  }
  if (auto n = m.get("h2_max_streams")) {
    if (auto v = read_uint(r, *n, 1, 10000)) spec.h2_max_streams = static_cast<std::uint32_t>(*v);
  }
  if (spec.tls) {
    // The ALPN offer follows the protocol unless it was written out; then it must agree with it.
    const std::string want = spec.protocol == "h2" ? "h2" : "http/1.1";
    if (!spec.tls->alpn_written)
      spec.tls->alpn = {want};
    else if (spec.tls->alpn != std::vector<std::string>{want} && !(spec.tls->alpn.empty() && want == "http/1.1"))
      r.error(spec.tls->alpn_written->first, spec.tls->alpn_written->second,
              want == "h2" ? "tls.alpn must be [h2] for protocol h2"
                           : "tls.alpn must be [http/1.1] or [] for protocol http/1.1 (h2 needs protocol: h2)");
  }
  return spec;
}

RetrySpec parse_retry(Reader& r, const Value& v) {
  RetrySpec retry;
  bool is_map = false;
  if (auto on = read_switch(r, v, is_map)) {
    if (!*on) retry.attempts = 1;
    return retry;
  }
  if (!is_map) return retry;
  MapView m(r, v, {"attempts", "on", "per_try_timeout", "buffer_body"});
  if (!m.ok()) return retry;
  assign(m, "attempts", retry.attempts, [&](const Value& x) { return read_uint(r, x, 1, 10); });
  if (auto on = m.get("on")) {
    if (auto items = read_string_or_list(r, *on)) {
      retry.on_connect_failure = retry.on_reset = retry.on_timeout = false;
      retry.on_status.clear();
      const std::vector<std::string> words{"connect-failure", "reset", "timeout"};
      for (const Value& item : *items) {
        auto s = read_string(r, item);
        if (!s) continue;
        int status = 0;
        auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), status);
        if (ec == std::errc() && p == s->data() + s->size()) {
          if (status < 500 || status > 599) r.error(item.mark, item.path, "retry on a status only for 5xx statuses");
          else if (std::find(retry.on_status.begin(), retry.on_status.end(), status) == retry.on_status.end())
            retry.on_status.push_back(status);
        } else if (*s == "connect-failure") {
          retry.on_connect_failure = true;
        } else if (*s == "reset") {
          retry.on_reset = true;
        } else if (*s == "timeout") {
          retry.on_timeout = true;
        } else {
          r.error(item.mark, item.path, "expected connect-failure, reset, timeout or a 5xx status" + did_you_mean(*s, words));
        }
      }
    }
  }
  if (auto x = m.get("per_try_timeout")) {
    if (auto d = read_duration(r, *x)) {
      if (d->count() <= 0) r.error(x->mark, x->path, "per_try_timeout must be positive");
      else retry.per_try_timeout = *d;
    }
  }
  assign(m, "buffer_body", retry.buffer_body, [&](const Value& x) { return read_size(r, x, 64ull * 1024 * 1024); });
  return retry;
}

}  // namespace rampart::config::detail
