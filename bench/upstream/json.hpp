// Minimal JSON output helpers for the /echo and /stats bodies.
#pragma once

#include <string>
#include <string_view>

namespace rampart::upstream {

// Appends `s` to `out` as a quoted JSON string. Valid UTF-8 sequences are copied as they are;
// control characters, '"' and '\\' are escaped; bytes that are not part of a valid UTF-8
// sequence (obs-text in header values, say) are written as \u00XX (read as Latin-1), so the
// result is always valid JSON whatever bytes the peer sent.
void append_json_string(std::string& out, std::string_view s);

}  // namespace rampart::upstream
