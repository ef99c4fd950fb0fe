// YAML -> ConfigSpec with strict validation. No Asio, no OpenSSL.
#pragma once
#include "config/spec.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::config {

// Reads `path` and every file its `include:` globs name, validates the whole shape and every
// cross-reference, and returns the spec. On any error returns nullopt; `diagnostics` then holds
// every error found (not just the first), each with file:line:col and key path.
// Thread: any; touches only the filesystem.
std::optional<ConfigSpec> load(const std::string& path, std::vector<Diagnostic>& diagnostics);

// Same, from text already in memory (`file_name` is used in marks and to resolve includes
// relative to its directory). Used by unit tests.
std::optional<ConfigSpec> load_string(const std::string& text, const std::string& file_name,
                                      std::vector<Diagnostic>& diagnostics);

// The effective merged config as YAML (what `rampart dump` prints): includes resolved, defaults
// filled in, every key explicit. Re-loading the output yields an equal spec.
std::string dump(const ConfigSpec& spec);

// What a dump may show.
enum class DumpMode {
  full,      // everything, as `rampart dump` prints it for the operator at the console
  redacted,  // for GET /config on the admin listener: every secret is replaced by "<redacted>"
};

// dump(spec) with `mode` applied. Redacted are: the private-key paths (listener certificates'
// `key`, `session_tickets.key_file`, upstream `tls.client_cert.key`) and the values of header
// operations (route `request_headers` / `response_headers` set and add) and header matches
// (route `headers[].value` / `regex`) whose name is_sensitive_header(). Certificate, CA and OCSP
// paths, header names and everything else stay. The redacted text is still valid YAML in the
// same shape, but it is for reading: loading it back would name files called "<redacted>".
// Thread: any; `spec` is only read (redaction works on a copy).
std::string dump(const ConfigSpec& spec, DumpMode mode);

// True when a header's value is a credential: authorization, proxy-authorization, cookie,
// set-cookie, and every name containing token, secret, password, passwd, api-key, apikey,
// api_key, session or credential. Case-insensitive.
bool is_sensitive_header(std::string_view name);

}  // namespace rampart::config
