// The validated configuration, as plain structs. Produced by config::load() from YAML; consumed
// once by snapshot::build(). Request code never sees these. Every spec carries the position of
// the YAML node it came from so that later (cross-reference) errors can still say file:line:col.
#pragma once
#include "core/net.hpp"
#include "core/units.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rampart::config {

using core::Duration;

// 1-based line and column, like compilers print them.
struct Mark {
  std::string file;
  int line = 0;
  int col = 0;
};

struct Diagnostic {
  Mark mark;
  std::string message;   // "unknown key 'upstreem' (did you mean 'upstream'?)"
  std::string key_path;  // "servers[0].routes[1].upstream"
  // "file:line:col: error: message [key.path]" ("file: error: ..." when the mark is unknown)
  std::string str() const;
};

// One certificate chain and its private key (PEM files). Paths are stored absolute, resolved
// against the directory of the file that names them.
struct CertificateSpec {
  Mark mark;
  std::string cert;  // leaf first, then intermediates (the issuer next when `ocsp` is set)
  std::string key;
  std::string ocsp;  // DER OCSP response stapled with this certificate; empty = none
  Mark ocsp_mark;    // where `ocsp` was written (its checks report there)
  bool operator==(const CertificateSpec& o) const { return cert == o.cert && key == o.key && ocsp == o.ocsp; }
};

// TLS termination on a listener.
struct TlsSpec {
  Mark mark;
  // The first is the default (clients without SNI or with an unknown name); the others are chosen
  // by SNI against the names in their subjectAltName (exact or wildcard). Two certificates for the
  // same names with different key types (ECDSA and RSA) are both served, by client capability.
  std::vector<CertificateSpec> certificates;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  std::string groups = "X25519:P-256:P-384";
  std::vector<std::string> alpn{"http/1.1"};
  bool session_tickets = true;
  std::optional<std::string> ticket_key_file;  // 80-byte keys, shared by replicas; unset = generated
  Duration ticket_rotation = std::chrono::hours(12);
  std::uint32_t session_cache = 20480;         // server-side session cache entries; 0 = off
  // mTLS: client certificates verified against a CA bundle.
  std::optional<std::string> client_ca;        // PEM bundle; unset = no client certificates asked
  bool client_cert_required = true;            // without a valid certificate the handshake fails
  std::string client_subject_header = "x-client-cert-subject";  // lower-case; the subject (RFC 2253) goes upstream in it
  bool operator==(const TlsSpec& o) const {
    return certificates == o.certificates && min_version == o.min_version && ciphers == o.ciphers &&
           ciphersuites == o.ciphersuites && groups == o.groups && alpn == o.alpn &&
           session_tickets == o.session_tickets && ticket_key_file == o.ticket_key_file &&
           ticket_rotation == o.ticket_rotation && session_cache == o.session_cache && client_ca == o.client_ca &&
           client_cert_required == o.client_cert_required && client_subject_header == o.client_subject_header;
  }
};

// HTTP/2 on a listener (ALPN "h2" on TLS listeners, `h2c` on plain ones): what the server
// advertises in SETTINGS and the per-connection abuse bounds (fixed one-second windows).
struct Http2Spec {
  std::uint32_t max_concurrent_streams = 128;
  std::uint32_t initial_window_size = 256 * 1024;      // request body bytes buffered per stream
  std::uint32_t connection_window_size = 1024 * 1024;  // ... and per connection
  std::uint32_t max_header_list_size = 64 * 1024;      // decoded request head (RFC 9113 6.5.2 size)
  std::uint32_t max_resets_per_second = 200;           // client resets and refused/malformed streams
  std::uint32_t max_streams_per_second = 100000;       // new streams (a guard rail: resets are the attack)
  bool operator==(const Http2Spec&) const = default;
};

struct ListenerSpec {
  Mark mark;
  std::string name;
  core::HostPort address;  // port 0 = pick a free port (tests)
  std::optional<TlsSpec> tls;
  // Plain-HTTP listener that answers every request with a redirect to https:// on this port
  // (301 for GET and HEAD, 308 otherwise). 0 = unset.
  std::uint16_t redirect_https_port = 0;
  // Connections one client IP may hold open on this listener at once (all workers together);
  // more are closed at accept. 0 = no limit.
  std::uint32_t max_connections_per_ip = 0;
  // Cleartext HTTP/2 with prior knowledge (plain listeners): a connection that starts with the
  // HTTP/2 preface speaks HTTP/2, any other HTTP/1.1.
  bool h2c = false;
  Http2Spec http2;
};

// Header edits applied in the order remove, set, add. Names are stored lower-case.
struct HeaderOps {
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

enum class PathMatch { prefix, exact, regex };

struct HeaderMatchSpec {
  std::string name;                 // lower-case
  enum class Kind { exact, regex, present, absent } kind = Kind::exact;
  std::string value;                // exact value or ECMAScript regex (full match)
};

struct RedirectSpec {
  int status = 302;                 // 301, 302, 303, 307, 308
  std::optional<std::string> scheme;  // "https"
  std::optional<std::string> host;    // may include ":port"
  std::optional<std::string> path;    // replaces the whole path
  std::optional<std::string> prefix;  // replaces the matched prefix (prefix routes only)
  bool strip_query = false;
};

struct RespondSpec {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

// Limits and timeouts that a route can override; unset fields inherit the defaults.
struct RouteLimits {
  std::optional<std::uint64_t> max_body_size;
  std::optional<Duration> connect_timeout;
  std::optional<Duration> read_timeout;   // upstream response header timeout, and idle between body reads
  std::optional<Duration> send_timeout;   // idle between upstream writes
};

// ---- Edge policies (named at the top level, attached to servers and routes by name) ----------

// A response header a policy sets: `set` overrides the upstream's, `default` only fills it in
// when the upstream sent none.
struct HeaderValueSpec {
  std::string value;
  enum class Mode { set, set_default } mode = Mode::set;
  bool operator==(const HeaderValueSpec&) const = default;
};

struct SecurityHeadersSpec {
  // Sent only on TLS listeners (RFC 6797 §7.2).
  std::optional<std::string> hsts;  // the header value, e.g. "max-age=31536000; includeSubDomains"
  // Header name (lower-case) -> value, in config order: content-security-policy,
  // content-security-policy-report-only, x-frame-options, x-content-type-options, referrer-policy,
  // permissions-policy, cross-origin-opener-policy, cross-origin-embedder-policy,
  // cross-origin-resource-policy.
  std::vector<std::pair<std::string, HeaderValueSpec>> headers;
  std::vector<std::string> remove;  // lower-case names dropped from every response (server, x-powered-by)
  bool operator==(const SecurityHeadersSpec&) const = default;
};

// One cache-control rule; every condition given must hold; the first rule that matches wins.
struct CacheRuleSpec {
  Mark mark;
  std::optional<std::string> path_regex;           // ECMAScript, searched in the path
  std::optional<std::string> path_prefix;
  std::vector<std::string> extensions;             // lower-case, without the dot
  std::vector<std::string> content_types;          // lower-case media types (prefix match: "text/" matches text/html)
  std::vector<int> statuses{200, 203, 204, 206};   // responses the rule applies to
  HeaderValueSpec cache_control;
  std::vector<std::string> vary;                   // added to Vary (kept names are not repeated)
  bool strip_set_cookie = false;
  bool operator==(const CacheRuleSpec& o) const {
    return path_regex == o.path_regex && path_prefix == o.path_prefix && extensions == o.extensions &&
           content_types == o.content_types && statuses == o.statuses && cache_control == o.cache_control &&
           vary == o.vary && strip_set_cookie == o.strip_set_cookie;
  }
};

struct CacheControlSpec {
  std::optional<std::string> preset;  // "spa": its rules come after the explicit ones
  std::vector<CacheRuleSpec> rules;
  bool operator==(const CacheControlSpec&) const = default;
};

// CORS: which origins a browser may call from, and what they may send and read.
struct CorsSpec {
  bool any_origin = false;                 // allow_origins: "*"
  std::vector<std::string> origins;        // exact ("https://app.example.com") or "https://*.example.com"
  std::vector<std::string> methods{"GET", "HEAD", "POST"};
  std::vector<std::string> headers;        // request headers allowed ("*": any, without credentials)
  std::vector<std::string> expose_headers;
  bool credentials = false;
  std::optional<Duration> max_age;
  bool operator==(const CorsSpec&) const = default;
};

// Access control: who may send what where. Denials answer `deny_status` at the edge.
struct AccessSpec {
  std::vector<core::Cidr> allow;           // non-empty: only clients in these
  std::vector<core::Cidr> deny;            // checked first
  std::vector<std::string> methods;        // non-empty: other methods get 405
  std::vector<std::string> deny_paths;     // path prefixes (whole segments), matched on the normalised path
  int deny_status = 403;                   // 403 or 404 (hide that the path exists)
  bool operator==(const AccessSpec& o) const {
    auto same = [](const std::vector<core::Cidr>& a, const std::vector<core::Cidr>& b) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!(a[i].base == b[i].base) || a[i].prefix != b[i].prefix) return false;
      return true;
    };
    return same(allow, o.allow) && same(deny, o.deny) && methods == o.methods && deny_paths == o.deny_paths &&
           deny_status == o.deny_status;
  }
};

// One part of a rate-limit key; the parts of a key are joined.
struct RateKeyPartSpec {
  enum class Kind { client_ip, header, cookie, route } kind = Kind::client_ip;
  std::string name;  // the header (lower-case) or cookie name
  bool operator==(const RateKeyPartSpec&) const = default;
};

// A token-bucket limit (GCRA): `count` requests per `per` in the long run, and up to `burst`
// more at once. One bucket per key, shared by every worker of the process.
struct RateLimitSpec {
  std::uint64_t count = 0;
  Duration per = std::chrono::seconds(1);
  std::uint64_t burst = 0;
  std::vector<RateKeyPartSpec> key{RateKeyPartSpec{}};  // default: the client IP
  int status = 429;
  bool dry_run = false;      // count and log what would be limited, limit nothing
  bool headers = true;       // RateLimit-Policy / RateLimit on the route's responses
  std::uint64_t max_keys = 100000;
  bool operator==(const RateLimitSpec&) const = default;
};

// Response compression, negotiated by Accept-Encoding.
struct CompressionSpec {
  std::vector<std::string> algorithms{"br", "gzip"};  // offered, in server preference order
  int gzip_level = 6;    // 1..9
  int brotli_level = 4;  // 0..11
  std::uint64_t min_length = 1024;  // smaller responses (when the length is known) go as they are
  std::vector<std::string> content_types{"text/html", "text/css", "text/plain", "text/javascript",
                                         "text/xml", "application/javascript", "application/json",
                                         "application/xml", "application/wasm", "image/svg+xml"};
  bool operator==(const CompressionSpec&) const = default;
};

struct PolicySpec {
  Mark mark;
  std::string name;
  // Exactly one kind:
  std::optional<SecurityHeadersSpec> security_headers;
  std::optional<CacheControlSpec> cache_control;
  std::optional<CorsSpec> cors;
  std::optional<AccessSpec> access;
  std::optional<RateLimitSpec> rate_limit;
  std::optional<CompressionSpec> compression;
  std::string kind() const {
    return security_headers ? "security_headers"
           : cache_control  ? "cache_control"
           : cors           ? "cors"
           : access         ? "access"
           : rate_limit     ? "rate_limit"
                            : "compression";
  }
};

// Retries of a proxied request, each on a different endpoint when the pool has one.
struct RetrySpec {
  std::uint32_t attempts = 2;  // tries in all, first one included; 1 = no retries
  bool on_connect_failure = true;  // nothing was sent: any method
  bool on_reset = true;            // connection lost before a response head: idempotent methods only
  bool on_timeout = false;         // per_try_timeout (or read_timeout) passed: idempotent methods only
  std::vector<int> on_status;      // e.g. 502, 503, 504: idempotent methods only
  std::optional<Duration> per_try_timeout;  // connect + send + response head, per try
  std::uint64_t buffer_body = 64 * 1024;    // request bodies up to this size are held so they can be sent again
  bool operator==(const RetrySpec&) const = default;
};

struct RouteSpec {
  Mark mark;
  std::string name;
  std::string path = "/";
  PathMatch match = PathMatch::prefix;
  std::vector<std::string> methods;          // upper-case; empty = any
  std::vector<HeaderMatchSpec> headers;      // all must match
  // Exactly one action:
  std::optional<std::string> upstream;       // proxy to this pool
  std::optional<RedirectSpec> redirect;
  std::optional<RespondSpec> respond;
  std::optional<std::string> rewrite_prefix; // proxy only: replace the matched prefix with this
  HeaderOps request_headers;                 // applied to the request sent upstream
  HeaderOps response_headers;                // applied to every response of the route
  RouteLimits limits;
  // Access log for this route: unset = the access_log block's settings; false = off; a sample
  // rate in [0, 1] overrides access_log.sample. YAML: `access_log: false` or `access_log: {sample: 0.1}`.
  std::optional<bool> access_log;
  std::optional<double> access_log_sample;
  RetrySpec retry;
  // Policies by name: the server's, minus `without`, plus these (a route policy of a kind the
  // server already has replaces the server's one of that kind).
  std::vector<std::string> policies;
  std::vector<std::string> without;
};

struct ServerSpec {
  Mark mark;
  std::string name;
  std::vector<std::string> hosts;  // "example.com", "*.example.com", "*" (= default); lower-case
  std::vector<std::string> listeners;  // names; empty = all listeners
  std::vector<RouteSpec> routes;
  std::vector<std::string> policies;  // by name, applied to every route of the server and its own 404s
};

struct EndpointSpec {
  core::HostPort address;   // IP literal or DNS name (every address the name resolves to is an endpoint)
  std::uint32_t weight = 1; // 1..1000
  bool operator==(const EndpointSpec&) const = default;
};

// How a pool picks an endpoint for a request.
struct HashKeySpec {
  enum class Source { header, cookie, client_ip, path } source = Source::client_ip;
  std::string name;  // header (lower-case) or cookie name
  bool operator==(const HashKeySpec&) const = default;
};
struct LoadBalanceSpec {
  enum class Policy { round_robin, least_request, random, hash } policy = Policy::round_robin;
  HashKeySpec hash_key;                 // policy hash only (Maglev table)
  std::optional<Duration> slow_start;   // ramp an endpoint's weight up over this window after it turns healthy
  bool operator==(const LoadBalanceSpec&) const = default;
};

// Active health checking: one checker per process probes every endpoint each interval.
struct HealthCheckSpec {
  enum class Type { http, tcp } type = Type::http;
  std::string method = "GET";
  std::string path = "/healthz";
  std::optional<std::string> host;                  // Host header; default: the endpoint's host:port
  std::vector<std::pair<int, int>> expect_status{{200, 399}};  // inclusive ranges
  std::optional<std::string> body_contains;          // substring of the first 64 KiB of the body
  Duration interval = std::chrono::seconds(5);
  Duration timeout = std::chrono::seconds(2);
  double jitter = 0.1;                               // each interval is randomly shortened by up to this share
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
  bool start_healthy = true;                         // a new endpoint gets traffic before its first check
  bool operator==(const HealthCheckSpec&) const = default;
};

// Passive health: consecutive failures eject an endpoint for a while.
struct OutlierSpec {
  std::uint32_t consecutive_failures = 5;  // connect failures and resets before a response; 0 = off
  std::uint32_t consecutive_5xx = 0;       // 5xx responses in a row (and the failures above); 0 = off
  Duration base_ejection_time = std::chrono::seconds(30);  // times the number of consecutive ejections
  Duration max_ejection_time = std::chrono::seconds(300);
  std::uint32_t max_ejected_percent = 50;  // of the pool's endpoints, ejected at once (at least one)
  bool operator==(const OutlierSpec&) const = default;
};

// Circuit breaking, process-wide per pool. 0 = unlimited.
struct CircuitSpec {
  std::uint32_t max_connections = 0;  // open upstream connections
  std::uint32_t max_pending = 0;      // requests waiting for a connection when max_connections is reached
  std::uint32_t max_requests = 0;     // requests in flight
  bool operator==(const CircuitSpec&) const = default;
};

// Retries may use at most this share of the pool's active requests (a worker's view).
struct RetryBudgetSpec {
  double percent = 20.0;
  std::uint32_t min_retries = 3;  // always allowed concurrently, however few requests are active
  bool operator==(const RetryBudgetSpec&) const = default;
};

// DNS discovery of endpoints given by name.
struct DiscoverySpec {
  std::optional<Duration> refresh;          // re-resolve interval; unset = the records' TTL (bounded 1s..1h)
  std::optional<core::HostPort> resolver;   // DNS server; unset = the system's (/etc/resolv.conf)
  bool operator==(const DiscoverySpec&) const = default;
};

// TLS to a pool's endpoints (`upstreams[].tls`). Paths are stored absolute, resolved against the
// directory of the file that names them; the files are read when the snapshot is built.
struct UpstreamTlsSpec {
  Mark mark;
  std::optional<std::string> ca;           // PEM bundle the upstream's chain must verify against; unset = system store
  Mark ca_mark;
  std::optional<std::string> server_name;  // SNI and the name verified; unset = the endpoint's host (a DNS name),
                                           // or its IP address (verified against IP SANs, no SNI)
  std::vector<std::string> alpn{"http/1.1"};  // offered; "h2" (alone) for protocol: h2 pools
  bool verify = true;                      // false: any certificate is accepted (testing only)
  std::string min_version = "1.2";         // "1.2" or "1.3"
  std::optional<CertificateSpec> client_cert;  // mTLS to the upstream
  // Where `alpn` was written (unset: it follows the pool's protocol).
  std::optional<std::pair<Mark, std::string>> alpn_written;
  bool operator==(const UpstreamTlsSpec& o) const {
    return ca == o.ca && server_name == o.server_name && alpn == o.alpn && verify == o.verify &&
           min_version == o.min_version && client_cert == o.client_cert;
  }
};

struct UpstreamSpec {
  Mark mark;
  std::string name;
  std::vector<EndpointSpec> endpoints;
  LoadBalanceSpec balance;
  std::optional<HealthCheckSpec> health_check;
  OutlierSpec outlier;
  bool panic = true;  // every endpoint unhealthy: spread over all of them (true) or answer 503 (false)
  CircuitSpec circuit;
  RetryBudgetSpec retry_budget;
  DiscoverySpec discovery;
  // Keep-alive pool, per worker.
  std::uint32_t max_idle_per_endpoint = 320;   // ingress-nginx upstream-keepalive-connections
  Duration idle_timeout = std::chrono::seconds(60);
  std::uint32_t max_requests_per_connection = 10000;
  std::optional<Duration> max_connection_lifetime;  // a pooled connection older than this is closed
  std::optional<Duration> connect_timeout;   // overrides defaults.connect_timeout
  std::optional<UpstreamTlsSpec> tls;        // unset = plain TCP
  // "http/1.1" (keep-alive pool, a connection per request in flight) or "h2" (requests
  // multiplexed as streams over few connections: gRPC backends; cleartext h2 with prior knowledge,
  // or TLS with ALPN h2).
  std::string protocol = "http/1.1";
  std::uint32_t h2_max_streams = 100;  // streams one upstream HTTP/2 connection carries at once (the
                                       // server's SETTINGS may lower it)
};

// Defaults follow ingress-nginx's where one exists.
struct DefaultsSpec {
  Duration connect_timeout = std::chrono::seconds(5);        // proxy-connect-timeout
  Duration read_timeout = std::chrono::seconds(60);          // proxy-read-timeout
  Duration send_timeout = std::chrono::seconds(60);          // proxy-send-timeout
  Duration client_header_timeout = std::chrono::seconds(60); // whole header section
  Duration client_body_timeout = std::chrono::seconds(60);   // max gap between body reads
  Duration keepalive_timeout = std::chrono::seconds(75);     // idle downstream keep-alive
  std::uint32_t keepalive_requests = 1000;                   // per downstream connection
  std::uint64_t max_body_size = 1024 * 1024;                 // client-max-body-size 1m; 0 = unlimited
  std::uint32_t max_request_line = 8192;                     // 414 beyond
  std::uint32_t max_header_bytes = 32768;                    // whole header section, 431 beyond
  std::uint32_t max_headers = 100;                           // 431 beyond
  std::vector<core::Cidr> trusted_proxies;                   // X-Forwarded-For / X-Request-ID kept only from these
};

// The admin listener: /metrics, /livez, /readyz, /healthz, /config, /upstreams, /-/reload.
// YAML: `admin: false|true` or a mapping. When enabled, load() rejects an address that overlaps a
// listener's (same port and same host, or a wildcard host on either side; port 0 never does).
struct AdminSpec {
  Mark mark;
  bool enabled = true;
  core::HostPort address{"127.0.0.1", 9901};  // port 0 = pick a free port (tests)
};

// The request log: one JSON object per line.
// YAML: `access_log: true|false` or a mapping; a mapping turns the log on unless it says
// `enabled: false`. A relative `path` is stored resolved to an absolute path against the main
// file's directory, so `path` never depends on the working directory.
struct AccessLogSpec {
  Mark mark;
  bool enabled = false;
  std::string path = "stdout";        // "stdout", "stderr" or a file path (appended; reopened on SIGUSR1)
  std::vector<std::string> fields;    // empty = every field; else a subset of the known names, in this order
  double sample = 1.0;                // share of requests logged, in [0, 1]
  bool query = false;                 // include the query string in `path`
  std::uint64_t buffer_size = 1024 * 1024;  // per worker; lines beyond it are dropped and counted
};

// Rampart's own log (not the access log), to stderr.
struct LogSpec {
  Mark mark;
  std::string format = "text";  // "text" or "json"
  std::string level = "info";   // "debug", "info", "warn", "error"
};

struct ConfigSpec {
  int version = 1;
  unsigned workers = 0;  // 0 = number of cores
  Duration drain_timeout = std::chrono::seconds(30);
  Duration shutdown_delay = std::chrono::seconds(0);  // SIGTERM: /readyz 503 this long before draining
  bool watch = true;                                   // reload when config/included files change
  AdminSpec admin;
  AccessLogSpec access_log;
  LogSpec log;
  std::vector<ListenerSpec> listeners;
  DefaultsSpec defaults;
  std::vector<ServerSpec> servers;
  std::vector<UpstreamSpec> upstreams;
  std::vector<PolicySpec> policies;
  std::vector<std::string> files;  // every file read (main file first, then includes)
};

}  // namespace rampart::config
