// Per-item parsers (YAML node -> spec struct) and the cross-reference table they fill. Internal
// to config/. Each parser records its errors in the Reader and still returns a (partial) spec so
// that indexes stay aligned and later checks can run; load() discards the result on any error.
#pragma once
#include "config/reader.hpp"
#include "config/spec.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace rampart::config::detail {

// Where a name or reference was written, for cross-reference errors found after all files.
struct Site {
  std::string text;
  Mark mark;
  std::string path;
};

struct Xref {
  std::vector<Site> listener_names;     // parallel to ConfigSpec::listeners
  std::vector<Site> listener_addresses; // parallel to ConfigSpec::listeners
  std::vector<Site> server_names;       // parallel to ConfigSpec::servers
  std::vector<Site> upstream_names;     // parallel to ConfigSpec::upstreams
  struct ServerRef {
    std::size_t server;  // index into ConfigSpec::servers
    Site site;
  };
  std::vector<ServerRef> hosts;             // every host of every server
  std::vector<ServerRef> server_listeners;  // every listener a server names
  std::vector<Site> route_upstreams;        // every route -> upstream reference
  std::vector<Site> policy_names;           // parallel to ConfigSpec::policies
  std::vector<Site> policy_refs;            // every server/route -> policy reference (and `without`)
  Site admin_address;                       // as written; empty text when left at the default
};

// The required `name` of a list item; also appends its Site (an empty one when missing) to `sites`.
std::optional<std::string> read_name(Reader& r, const MapView& m, std::vector<Site>& sites);

// `true`, `false` or a mapping. A scalar yields its boolean; a mapping yields nullopt with
// `is_map` set; anything else is reported and yields nullopt with `is_map` clear.
std::optional<bool> read_switch(Reader& r, const Value& v, bool& is_map);
// One of `choices`, with a did-you-mean suggestion otherwise.
std::optional<std::string> read_choice(Reader& r, const Value& v, const std::vector<std::string>& choices);

ListenerSpec parse_listener(Reader& r, const Value& v, Xref& x);
// A file path, made absolute against the directory of r.file() (parse_tls.cpp).
std::optional<std::string> read_file_path(Reader& r, const Value& v);
// A listener's `tls:` block (parse_tls.cpp). Relative paths resolve against r.file()'s directory.
TlsSpec parse_tls(Reader& r, const Value& v);
UpstreamSpec parse_upstream(Reader& r, const Value& v, Xref& x);
// `index` is the position the server will take in ConfigSpec::servers.
ServerSpec parse_server(Reader& r, const Value& v, std::size_t index, Xref& x);
RouteSpec parse_route(Reader& r, const Value& v, std::size_t route_index, Xref& x);
DefaultsSpec parse_defaults(Reader& r, const Value& v);
// A top-level `policies[]` item (parse_policy.cpp).
PolicySpec parse_policy(Reader& r, const Value& v, Xref& x);
// The bodies of the `rate_limit:` and `compression:` policy kinds (parse_rate_limit.cpp,
// parse_compression.cpp).
RateLimitSpec parse_rate_limit(Reader& r, const Value& v);
CompressionSpec parse_compression(Reader& r, const Value& v);
// A list of policy names (servers[].policies, routes[].policies / without), recorded in x.policy_refs.
std::vector<std::string> parse_policy_names(Reader& r, const Value& v, Xref& x);
// A route's `retry: false | {attempts, on, per_try_timeout, buffer_body}` (parse_upstream.cpp).
RetrySpec parse_retry(Reader& r, const Value& v);

// Operations blocks of the main file (parse_operations.cpp). Each takes the block's value and
// accepts the documented shorthands (`admin: false`, `access_log: true`). `main_dir` is the
// directory of the main file; a relative access log path is resolved against it.
AdminSpec parse_admin(Reader& r, const Value& v, Xref& x);
AccessLogSpec parse_access_log(Reader& r, const Value& v, const std::string& main_dir);
LogSpec parse_log(Reader& r, const Value& v);
// A route's `access_log: true | false | {sample: x}`; fills route.access_log(_sample).
void parse_route_access_log(Reader& r, const Value& v, RouteSpec& route);

// The access log field names, in their default order (the JSON keys of a line).
const std::vector<std::string>& access_log_field_names();

// Checks that need every file: duplicates across files, dangling references, host conflicts,
// and, when `main_mark` is given, that at least one listener and server exist (reported there).
void cross_check(const ConfigSpec& spec, const Xref& x, const Mark* main_mark,
                 std::vector<Diagnostic>& diagnostics);

}  // namespace rampart::config::detail
