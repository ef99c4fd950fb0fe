// dump(): the effective config as YAML, every key explicit, in the same shape load() reads.
#include "config/load.hpp"
#include "config/reader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

namespace rampart::config {
namespace {

using core::format_duration;
using core::format_size;
using detail::format_number;

void emit_string_list(YAML::Emitter& out, const char* key, const std::vector<std::string>& items) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& s : items) out << s;
  out << YAML::EndSeq;
}

void emit_header_ops(YAML::Emitter& out, const char* key, const HeaderOps& ops) {
  out << YAML::Key << key << YAML::Value << YAML::BeginMap;
  for (const auto& [name, list] : {std::pair{"set", &ops.set}, std::pair{"add", &ops.add}}) {
    out << YAML::Key << name << YAML::Value;
    if (list->empty()) {
      out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
      continue;
    }
    out << YAML::BeginMap;
    for (const auto& [header, value] : *list) out << YAML::Key << header << YAML::Value << value;
    out << YAML::EndMap;
  }
  emit_string_list(out, "remove", ops.remove);
  out << YAML::EndMap;
}

const char* match_name(PathMatch m) {
  switch (m) {
    case PathMatch::prefix: return "prefix";
    case PathMatch::exact: return "exact";
    case PathMatch::regex: return "regex";
  }
  return "prefix";
}

void emit_header_match(YAML::Emitter& out, const HeaderMatchSpec& h) {
  out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << h.name;
  switch (h.kind) {
    case HeaderMatchSpec::Kind::exact: out << YAML::Key << "value" << YAML::Value << h.value; break;
    case HeaderMatchSpec::Kind::regex: out << YAML::Key << "regex" << YAML::Value << h.value; break;
    case HeaderMatchSpec::Kind::present: out << YAML::Key << "present" << YAML::Value << true; break;
    case HeaderMatchSpec::Kind::absent: out << YAML::Key << "absent" << YAML::Value << true; break;
  }
  out << YAML::EndMap;
}

template <class T>
void emit_optional(YAML::Emitter& out, const char* key, const std::optional<T>& v) {
  if (v) out << YAML::Key << key << YAML::Value << *v;
}

void emit_route(YAML::Emitter& out, const RouteSpec& r) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << r.name;
  out << YAML::Key << "path" << YAML::Value << r.path;
  out << YAML::Key << "match" << YAML::Value << match_name(r.match);
  emit_string_list(out, "methods", r.methods);
  out << YAML::Key << "headers" << YAML::Value;
  if (r.headers.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const HeaderMatchSpec& h : r.headers) emit_header_match(out, h);
  out << YAML::EndSeq;
  emit_optional(out, "upstream", r.upstream);
  if (r.redirect) {
    const RedirectSpec& d = *r.redirect;
    out << YAML::Key << "redirect" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "status" << YAML::Value << d.status;
    emit_optional(out, "scheme", d.scheme);
    emit_optional(out, "host", d.host);
    emit_optional(out, "path", d.path);
    emit_optional(out, "prefix", d.prefix);
    out << YAML::Key << "strip_query" << YAML::Value << d.strip_query;
    out << YAML::EndMap;
  }
  if (r.respond) {
    out << YAML::Key << "respond" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "status" << YAML::Value << r.respond->status;
    out << YAML::Key << "body" << YAML::Value << YAML::DoubleQuoted << r.respond->body;
    out << YAML::Key << "content_type" << YAML::Value << r.respond->content_type;
    out << YAML::EndMap;
  }
  emit_optional(out, "rewrite_prefix", r.rewrite_prefix);
  emit_header_ops(out, "request_headers", r.request_headers);
  emit_header_ops(out, "response_headers", r.response_headers);
  // Unset limits inherit `defaults` when the snapshot is built; writing them here would turn
  // an inherited value into an override, so only explicit ones appear.
  if (r.limits.max_body_size) out << YAML::Key << "max_body_size" << YAML::Value << format_size(*r.limits.max_body_size);
  if (r.limits.connect_timeout) out << YAML::Key << "connect_timeout" << YAML::Value << format_duration(*r.limits.connect_timeout);
  if (r.limits.read_timeout) out << YAML::Key << "read_timeout" << YAML::Value << format_duration(*r.limits.read_timeout);
  if (r.limits.send_timeout) out << YAML::Key << "send_timeout" << YAML::Value << format_duration(*r.limits.send_timeout);
  // Unset inherits the access_log block, so it is left out like the limits above.
  if (r.access_log) {
    out << YAML::Key << "access_log" << YAML::Value;
    if (*r.access_log && r.access_log_sample) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "sample" << YAML::Value
          << format_number(*r.access_log_sample) << YAML::EndMap;
    } else {
      out << *r.access_log;
    }
  }
  if (!r.policies.empty()) emit_string_list(out, "policies", r.policies);
  if (!r.without.empty()) emit_string_list(out, "without", r.without);
  if (r.upstream) {
    const RetrySpec& t = r.retry;
    out << YAML::Key << "retry" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "attempts" << YAML::Value << t.attempts;
    out << YAML::Key << "on" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    if (t.on_connect_failure) out << "connect-failure";
    if (t.on_reset) out << "reset";
    if (t.on_timeout) out << "timeout";
    for (int st : t.on_status) out << st;
    out << YAML::EndSeq;
    if (t.per_try_timeout) out << YAML::Key << "per_try_timeout" << YAML::Value << format_duration(*t.per_try_timeout);
    out << YAML::Key << "buffer_body" << YAML::Value << format_size(t.buffer_body);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

void emit_header_value(YAML::Emitter& out, const char* key, const HeaderValueSpec& h) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "value" << YAML::Value
      << YAML::DoubleQuoted << h.value << YAML::Key << "mode" << YAML::Value
      << (h.mode == HeaderValueSpec::Mode::set ? "set" : "default") << YAML::EndMap;
}

void emit_policy(YAML::Emitter& out, const PolicySpec& p) {
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << p.name;
  if (p.security_headers) {
    const SecurityHeadersSpec& s = *p.security_headers;
    out << YAML::Key << "security_headers" << YAML::Value << YAML::BeginMap;
    if (s.hsts) {
      // Back from the header value to the keys it was made of.
      const std::string& v = *s.hsts;
      const auto age = std::stoull(v.substr(v.find('=') + 1));
      out << YAML::Key << "hsts" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "max_age" << YAML::Value
          << (std::to_string(age) + "s") << YAML::Key << "include_subdomains" << YAML::Value
          << (v.find("includeSubDomains") != std::string::npos) << YAML::Key << "preload" << YAML::Value
          << (v.find("preload") != std::string::npos) << YAML::EndMap;
    }
    for (const auto& [name, value] : s.headers) {
      std::string key = name;
      for (char& c : key) c = c == '-' ? '_' : c;
      emit_header_value(out, key.c_str(), value);
    }
    if (!s.remove.empty()) emit_string_list(out, "remove", s.remove);
    out << YAML::EndMap;
  }
  if (p.cache_control) {
    const CacheControlSpec& c = *p.cache_control;
    out << YAML::Key << "cache_control" << YAML::Value << YAML::BeginMap;
    if (c.preset) out << YAML::Key << "preset" << YAML::Value << *c.preset;
    out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
    for (const CacheRuleSpec& r : c.rules) {
      out << YAML::BeginMap;
      if (r.path_regex) out << YAML::Key << "path" << YAML::Value << YAML::DoubleQuoted << *r.path_regex;
      if (r.path_prefix) out << YAML::Key << "path_prefix" << YAML::Value << *r.path_prefix;
      if (!r.extensions.empty()) emit_string_list(out, "extensions", r.extensions);
      if (!r.content_types.empty()) emit_string_list(out, "content_types", r.content_types);
      out << YAML::Key << "statuses" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (int st : r.statuses) out << st;
      out << YAML::EndSeq;
      emit_header_value(out, "value", r.cache_control);
      if (!r.vary.empty()) emit_string_list(out, "vary", r.vary);
      out << YAML::Key << "strip_set_cookie" << YAML::Value << r.strip_set_cookie;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  if (p.cors) {
    const CorsSpec& c = *p.cors;
    out << YAML::Key << "cors" << YAML::Value << YAML::BeginMap;
    std::vector<std::string> origins = c.origins;
    if (c.any_origin) origins.insert(origins.begin(), "*");
    emit_string_list(out, "allow_origins", origins);
    emit_string_list(out, "allow_methods", c.methods);
    emit_string_list(out, "allow_headers", c.headers);
    emit_string_list(out, "expose_headers", c.expose_headers);
    out << YAML::Key << "allow_credentials" << YAML::Value << c.credentials;
    if (c.max_age) out << YAML::Key << "max_age" << YAML::Value << format_duration(*c.max_age);
    out << YAML::EndMap;
  }
  if (p.access) {
    const AccessSpec& a = *p.access;
    auto cidrs = [&](const char* key, const std::vector<core::Cidr>& list) {
      std::vector<std::string> text;
      for (const auto& c : list) text.push_back(c.str());
      emit_string_list(out, key, text);
    };
    out << YAML::Key << "access" << YAML::Value << YAML::BeginMap;
    cidrs("allow", a.allow);
    cidrs("deny", a.deny);
    emit_string_list(out, "methods", a.methods);
    emit_string_list(out, "deny_paths", a.deny_paths);
    out << YAML::Key << "deny_status" << YAML::Value << a.deny_status;
    out << YAML::EndMap;
  }
  if (p.rate_limit) {
    const RateLimitSpec& l = *p.rate_limit;
    out << YAML::Key << "rate_limit" << YAML::Value << YAML::BeginMap;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(l.per).count();
    const char* unit = secs == 3600 ? "h" : secs == 60 ? "m" : "s";
    out << YAML::Key << "rate" << YAML::Value << (std::to_string(l.count) + "/" + unit);
    out << YAML::Key << "burst" << YAML::Value << l.burst;
    std::vector<std::string> key;
    for (const RateKeyPartSpec& k : l.key) {
      switch (k.kind) {
        case RateKeyPartSpec::Kind::client_ip: key.push_back("client_ip"); break;
        case RateKeyPartSpec::Kind::header: key.push_back("header:" + k.name); break;
        case RateKeyPartSpec::Kind::cookie: key.push_back("cookie:" + k.name); break;
        case RateKeyPartSpec::Kind::route: key.push_back("route"); break;
      }
    }
    emit_string_list(out, "key", key);
    out << YAML::Key << "status" << YAML::Value << l.status;
    out << YAML::Key << "dry_run" << YAML::Value << l.dry_run;
    out << YAML::Key << "headers" << YAML::Value << l.headers;
    out << YAML::Key << "max_keys" << YAML::Value << l.max_keys;
    out << YAML::EndMap;
  }
  if (p.compression) {
    const CompressionSpec& c = *p.compression;
    out << YAML::Key << "compression" << YAML::Value << YAML::BeginMap;
    emit_string_list(out, "algorithms", c.algorithms);
    out << YAML::Key << "gzip_level" << YAML::Value << c.gzip_level;
    out << YAML::Key << "brotli_level" << YAML::Value << c.brotli_level;
    out << YAML::Key << "min_length" << YAML::Value << format_size(c.min_length);
    emit_string_list(out, "content_types", c.content_types);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

const char* policy_name(LoadBalanceSpec::Policy p) {
  switch (p) {
    case LoadBalanceSpec::Policy::round_robin: return "round_robin";
    case LoadBalanceSpec::Policy::least_request: return "least_request";
    case LoadBalanceSpec::Policy::random: return "random";
    case LoadBalanceSpec::Policy::hash: return "hash";
  }
  return "round_robin";
}

void emit_upstream(YAML::Emitter& out, const UpstreamSpec& u) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << u.name;
  out << YAML::Key << "endpoints" << YAML::Value << YAML::BeginSeq;
  for (const EndpointSpec& e : u.endpoints) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "address" << YAML::Value << e.address.str() << YAML::Key
        << "weight" << YAML::Value << e.weight << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "balance" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "policy" << YAML::Value << policy_name(u.balance.policy);
  if (u.balance.policy == LoadBalanceSpec::Policy::hash) {
    out << YAML::Key << "key" << YAML::Value;
    const HashKeySpec& k = u.balance.hash_key;
    switch (k.source) {
      case HashKeySpec::Source::client_ip: out << "client_ip"; break;
      case HashKeySpec::Source::path: out << "path"; break;
      case HashKeySpec::Source::header: out << YAML::Flow << YAML::BeginMap << YAML::Key << "header" << YAML::Value << k.name << YAML::EndMap; break;
      case HashKeySpec::Source::cookie: out << YAML::Flow << YAML::BeginMap << YAML::Key << "cookie" << YAML::Value << k.name << YAML::EndMap; break;
    }
  }
  if (u.balance.slow_start) out << YAML::Key << "slow_start" << YAML::Value << format_duration(*u.balance.slow_start);
  out << YAML::EndMap;
  if (u.health_check) {
    const HealthCheckSpec& h = *u.health_check;
    const bool http = h.type == HealthCheckSpec::Type::http;
    out << YAML::Key << "health_check" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << (http ? "http" : "tcp");
    if (http) {
      out << YAML::Key << "method" << YAML::Value << h.method;
      out << YAML::Key << "path" << YAML::Value << h.path;
      emit_optional(out, "host", h.host);
      out << YAML::Key << "expect_status" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (auto [lo, hi] : h.expect_status) out << (lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi));
      out << YAML::EndSeq;
      emit_optional(out, "body_contains", h.body_contains);
    }
    out << YAML::Key << "interval" << YAML::Value << format_duration(h.interval);
    out << YAML::Key << "timeout" << YAML::Value << format_duration(h.timeout);
    out << YAML::Key << "jitter" << YAML::Value << format_number(h.jitter);
    out << YAML::Key << "healthy_threshold" << YAML::Value << h.healthy_threshold;
    out << YAML::Key << "unhealthy_threshold" << YAML::Value << h.unhealthy_threshold;
    out << YAML::Key << "start" << YAML::Value << (h.start_healthy ? "healthy" : "unknown");
    out << YAML::EndMap;
  }
  const OutlierSpec& o = u.outlier;
  out << YAML::Key << "outlier" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "consecutive_failures" << YAML::Value << o.consecutive_failures;
  out << YAML::Key << "consecutive_5xx" << YAML::Value << o.consecutive_5xx;
  out << YAML::Key << "base_ejection_time" << YAML::Value << format_duration(o.base_ejection_time);
  out << YAML::Key << "max_ejection_time" << YAML::Value << format_duration(o.max_ejection_time);
  out << YAML::Key << "max_ejected_percent" << YAML::Value << o.max_ejected_percent;
  out << YAML::EndMap;
  out << YAML::Key << "when_all_unhealthy" << YAML::Value << (u.panic ? "panic" : "fail");
  out << YAML::Key << "circuit" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "max_connections" << YAML::Value << u.circuit.max_connections;
  if (u.circuit.max_connections) out << YAML::Key << "max_pending" << YAML::Value << u.circuit.max_pending;
  out << YAML::Key << "max_requests" << YAML::Value << u.circuit.max_requests;
  out << YAML::EndMap;
  out << YAML::Key << "retry_budget" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "percent" << YAML::Value << format_number(u.retry_budget.percent);
  out << YAML::Key << "min_retries" << YAML::Value << u.retry_budget.min_retries;
  out << YAML::EndMap;
  if (u.discovery.refresh || u.discovery.resolver) {
    out << YAML::Key << "discovery" << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (u.discovery.refresh) out << YAML::Key << "refresh" << YAML::Value << format_duration(*u.discovery.refresh);
    if (u.discovery.resolver) out << YAML::Key << "resolver" << YAML::Value << u.discovery.resolver->str();
    out << YAML::EndMap;
  }
  out << YAML::Key << "max_idle_per_endpoint" << YAML::Value << u.max_idle_per_endpoint;
  out << YAML::Key << "idle_timeout" << YAML::Value << format_duration(u.idle_timeout);
  out << YAML::Key << "max_requests_per_connection" << YAML::Value << u.max_requests_per_connection;
  if (u.max_connection_lifetime)
    out << YAML::Key << "max_connection_lifetime" << YAML::Value << format_duration(*u.max_connection_lifetime);
  if (u.connect_timeout) out << YAML::Key << "connect_timeout" << YAML::Value << format_duration(*u.connect_timeout);
  if (u.protocol == "h2") {
    out << YAML::Key << "protocol" << YAML::Value << u.protocol;
    out << YAML::Key << "h2_max_streams" << YAML::Value << u.h2_max_streams;
  }
  if (u.tls) {
    const UpstreamTlsSpec& t = *u.tls;
    out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
    emit_optional(out, "ca", t.ca);
    emit_optional(out, "server_name", t.server_name);
    emit_string_list(out, "alpn", t.alpn);
    out << YAML::Key << "verify" << YAML::Value << t.verify;
    out << YAML::Key << "min_version" << YAML::Value << YAML::DoubleQuoted << t.min_version;
    if (t.client_cert) {
      out << YAML::Key << "client_cert" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "cert"
          << YAML::Value << t.client_cert->cert << YAML::Key << "key" << YAML::Value << t.client_cert->key << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

void emit_operations(YAML::Emitter& out, const ConfigSpec& spec) {
  out << YAML::Key << "shutdown_delay" << YAML::Value << format_duration(spec.shutdown_delay);
  out << YAML::Key << "watch" << YAML::Value << spec.watch;
  out << YAML::Key << "admin" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << spec.admin.enabled;
  out << YAML::Key << "address" << YAML::Value << spec.admin.address.str();
  out << YAML::EndMap;
  const AccessLogSpec& a = spec.access_log;
  out << YAML::Key << "access_log" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << a.enabled;
  out << YAML::Key << "path" << YAML::Value << a.path;
  emit_string_list(out, "fields", a.fields);
  out << YAML::Key << "sample" << YAML::Value << format_number(a.sample);
  out << YAML::Key << "query" << YAML::Value << a.query;
  out << YAML::Key << "buffer_size" << YAML::Value << format_size(a.buffer_size);
  out << YAML::EndMap;
  out << YAML::Key << "log" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << spec.log.format;
  out << YAML::Key << "level" << YAML::Value << spec.log.level;
  out << YAML::EndMap;
}

void emit_defaults(YAML::Emitter& out, const DefaultsSpec& d) {
  out << YAML::Key << "defaults" << YAML::Value << YAML::BeginMap;
  for (const auto& [key, value] : {std::pair{"connect_timeout", d.connect_timeout},
                                   std::pair{"read_timeout", d.read_timeout},
                                   std::pair{"send_timeout", d.send_timeout},
                                   std::pair{"client_header_timeout", d.client_header_timeout},
                                   std::pair{"client_body_timeout", d.client_body_timeout},
                                   std::pair{"keepalive_timeout", d.keepalive_timeout}}) {
    out << YAML::Key << key << YAML::Value << format_duration(value);
  }
  out << YAML::Key << "keepalive_requests" << YAML::Value << d.keepalive_requests;
  out << YAML::Key << "max_body_size" << YAML::Value << format_size(d.max_body_size);
  out << YAML::Key << "max_request_line" << YAML::Value << format_size(d.max_request_line);
  out << YAML::Key << "max_header_bytes" << YAML::Value << format_size(d.max_header_bytes);
  out << YAML::Key << "max_headers" << YAML::Value << d.max_headers;
  out << YAML::Key << "trusted_proxies" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const core::Cidr& c : d.trusted_proxies) out << c.str();
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

}  // namespace

std::string dump(const ConfigSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << spec.version;
  out << YAML::Key << "workers" << YAML::Value << spec.workers;
  out << YAML::Key << "drain_timeout" << YAML::Value << format_duration(spec.drain_timeout);
  emit_operations(out, spec);

  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (const ListenerSpec& l : spec.listeners) {
    if (!l.tls && !l.redirect_https_port && !l.max_connections_per_ip && !l.h2c && l.http2 == Http2Spec{}) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << l.name << YAML::Key << "address"
          << YAML::Value << l.address.str() << YAML::EndMap;
      continue;
    }
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << l.name << YAML::Key << "address" << YAML::Value
        << l.address.str();
    if (l.redirect_https_port) out << YAML::Key << "redirect_https" << YAML::Value << l.redirect_https_port;
    if (l.max_connections_per_ip)
      out << YAML::Key << "max_connections_per_ip" << YAML::Value << l.max_connections_per_ip;
    if (l.h2c) out << YAML::Key << "h2c" << YAML::Value << true;
    if (l.h2c || !(l.http2 == Http2Spec{}) ||
        (l.tls && std::find(l.tls->alpn.begin(), l.tls->alpn.end(), "h2") != l.tls->alpn.end())) {
      const Http2Spec& h = l.http2;
      out << YAML::Key << "http2" << YAML::Value << YAML::Flow << YAML::BeginMap;
      out << YAML::Key << "max_concurrent_streams" << YAML::Value << h.max_concurrent_streams;
      out << YAML::Key << "initial_window_size" << YAML::Value << h.initial_window_size;
      out << YAML::Key << "connection_window_size" << YAML::Value << h.connection_window_size;
      out << YAML::Key << "max_header_list_size" << YAML::Value << h.max_header_list_size;
      out << YAML::Key << "max_resets_per_second" << YAML::Value << h.max_resets_per_second;
      out << YAML::Key << "max_streams_per_second" << YAML::Value << h.max_streams_per_second;
      out << YAML::EndMap;
    }
    if (l.tls) {
      const TlsSpec& t = *l.tls;
      out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "certificates" << YAML::Value << YAML::BeginSeq;
      for (const CertificateSpec& c : t.certificates) {
        out << YAML::Flow << YAML::BeginMap << YAML::Key << "cert" << YAML::Value << c.cert << YAML::Key << "key"
            << YAML::Value << c.key;
        if (!c.ocsp.empty()) out << YAML::Key << "ocsp" << YAML::Value << c.ocsp;
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
      out << YAML::Key << "min_version" << YAML::Value << YAML::DoubleQuoted << t.min_version;
      out << YAML::Key << "ciphers" << YAML::Value << t.ciphers;
      out << YAML::Key << "ciphersuites" << YAML::Value << t.ciphersuites;
      out << YAML::Key << "groups" << YAML::Value << t.groups;
      emit_string_list(out, "alpn", t.alpn);
      out << YAML::Key << "session_tickets" << YAML::Value;
      if (!t.session_tickets) {
        out << false;
      } else {
        out << YAML::Flow << YAML::BeginMap;
        if (t.ticket_key_file) out << YAML::Key << "key_file" << YAML::Value << *t.ticket_key_file;
        out << YAML::Key << "rotation" << YAML::Value << format_duration(t.ticket_rotation) << YAML::EndMap;
      }
      out << YAML::Key << "session_cache" << YAML::Value << t.session_cache;
      if (t.client_ca) {
        out << YAML::Key << "client_auth" << YAML::Value << YAML::Flow << YAML::BeginMap;
        out << YAML::Key << "ca" << YAML::Value << *t.client_ca;
        out << YAML::Key << "required" << YAML::Value << t.client_cert_required;
        out << YAML::Key << "subject_header" << YAML::Value << t.client_subject_header << YAML::EndMap;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  emit_defaults(out, spec.defaults);

  out << YAML::Key << "servers" << YAML::Value << YAML::BeginSeq;
  for (const ServerSpec& s : spec.servers) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << s.name;
    emit_string_list(out, "hosts", s.hosts);
    emit_string_list(out, "listeners", s.listeners);
    if (!s.policies.empty()) emit_string_list(out, "policies", s.policies);
    out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
    for (const RouteSpec& r : s.routes) emit_route(out, r);
    out << YAML::EndSeq;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  out << YAML::Key << "upstreams" << YAML::Value << YAML::BeginSeq;
  for (const UpstreamSpec& u : spec.upstreams) emit_upstream(out, u);
  out << YAML::EndSeq;
  if (!spec.policies.empty()) {
    out << YAML::Key << "policies" << YAML::Value << YAML::BeginSeq;
    for (const PolicySpec& p : spec.policies) emit_policy(out, p);
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace rampart::config

// ---- Redaction (GET /config) -------------------------------------------------------------------

namespace rampart::config {
namespace {

constexpr const char* kRedacted = "<redacted>";

void redact_header_ops(HeaderOps& ops) {
  for (auto* list : {&ops.set, &ops.add})
    for (auto& [name, value] : *list)
      if (is_sensitive_header(name)) value = kRedacted;
}

// Replaces every secret of `spec` (see DumpMode::redacted) in place.
void redact(ConfigSpec& spec) {
  for (ListenerSpec& l : spec.listeners) {
    if (!l.tls) continue;
    for (CertificateSpec& c : l.tls->certificates) c.key = kRedacted;
    if (l.tls->ticket_key_file) l.tls->ticket_key_file = kRedacted;
  }
  for (ServerSpec& s : spec.servers) {
    for (RouteSpec& r : s.routes) {
      redact_header_ops(r.request_headers);
      redact_header_ops(r.response_headers);
      for (HeaderMatchSpec& h : r.headers)
        if ((h.kind == HeaderMatchSpec::Kind::exact || h.kind == HeaderMatchSpec::Kind::regex) &&
            is_sensitive_header(h.name))
          h.value = kRedacted;
    }
  }
  for (UpstreamSpec& u : spec.upstreams)
    if (u.tls && u.tls->client_cert) u.tls->client_cert->key = kRedacted;
}

}  // namespace

bool is_sensitive_header(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* exact : {"authorization", "proxy-authorization", "cookie", "set-cookie"})
    if (n == exact) return true;
  for (const char* part : {"token", "secret", "password", "passwd", "api-key", "apikey", "api_key", "session",
                           "credential"})
    if (n.find(part) != std::string::npos) return true;
  return false;
}

std::string dump(const ConfigSpec& spec, DumpMode mode) {
  if (mode == DumpMode::full) return dump(spec);
  ConfigSpec copy = spec;
  redact(copy);
  return dump(copy);
}

}  // namespace rampart::config
