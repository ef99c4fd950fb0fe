// Internal to rampart_http: interpretation of the few header fields that decide framing and
// connection handling (Host, Content-Length, Transfer-Encoding, Connection, Upgrade, Expect),
// done while the head parser walks the field lines.
#pragma once
#include <cstdint>
#include <string_view>

namespace rampart::http::detail {

// What the fields say about framing and connection handling, gathered while parsing them.
struct FieldSummary {
  bool has_cl = false;
  std::uint64_t cl = 0;
  bool has_te = false;
  bool te_chunked = false;            // "chunked" seen in some Transfer-Encoding element
  bool te_last_chunked = false;       // the final coding so far is "chunked"
  bool te_duplicate_chunked = false;  // "chunked" listed more than once
  bool te_other = false;              // a coding other than "chunked" listed
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool has_upgrade = false;
  bool expect_continue = false;
  int host_count = 0;
  std::string_view host;
};

// Interprets one field line (name already a token, value already OWS-trimmed and made of
// field-value bytes) into `s`. `request` enables the Host rules. Returns a failure reason for a
// 400, or nullptr.
const char* on_field(FieldSummary& s, std::string_view name, std::string_view value, bool request) noexcept;

// uri-host [ ":" port ]: reg-name, IPv4 or "[" IPv6 "]"; no userinfo, path, whitespace or CTLs.
bool valid_authority(std::string_view authority, bool require_port) noexcept;

}  // namespace rampart::http::detail
