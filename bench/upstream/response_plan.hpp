// What a request's query string asks the upstream to do (see bench/README.md for the list).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rampart::upstream {

enum class malformed_kind { none, cl_te, bare_lf, obs_fold, bad_chunk, dup_cl, nul, short_body };

struct response_plan {
  unsigned status = 200;
  std::optional<std::uint64_t> size;  // size=N; the default body size otherwise
  std::optional<std::uint64_t> json;  // json=N: realistic JSON of N bytes (application/json)
  std::uint64_t delay_ms = 0;         // before the response head
  std::uint64_t delay_body_ms = 0;    // between the head and the body
  bool chunked = false;
  std::uint64_t chunk = 8192;
  bool close = false;
  bool drop = false;
  malformed_kind malformed = malformed_kind::none;
  std::string content_type;           // type=text/html: the Content-Type (URL-decoded); empty: the default
  std::string trailers;               // trailer=Name:Value (repeatable, chunked bodies): "Name: Value\r\n" lines
};

// Largest size=N honoured (bodies are streamed from a static buffer, so this is only a sanity
// bound); larger values are a 400.
inline constexpr std::uint64_t max_body_size = std::uint64_t{1} << 40;
// Largest json=N honoured (the body is generated in memory).
inline constexpr std::uint64_t max_json_size = std::uint64_t{16} << 20;

// Appends exactly `size` bytes of JSON-looking text to `out`: an array of user-like records with
// varied names, numbers and flags (deterministic), so it compresses like real API output rather
// than like repeated filler. The array is cut at `size` (not necessarily valid JSON at the end).
void append_json_body(std::uint64_t size, std::string& out);

// Parses `query` (the part after '?') into `plan`. Each `header=Name:Value` is URL-decoded and
// appended to `extra_headers` as "Name: Value\r\n" (CR and LF removed). Unknown parameters are
// ignored. Returns false, with a short reason in `error`, for an invalid value.
bool parse_query(std::string_view query, response_plan& plan, std::string& extra_headers,
                 std::string& error);

// Decodes %XX escapes and '+' (as space) from `in`, appending the result to `out`. Invalid
// escapes are copied as they are.
void url_decode_append(std::string_view in, std::string& out);

}  // namespace rampart::upstream
