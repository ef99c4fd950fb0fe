// The access log: one JSON object per line, to stdout, stderr or a file. Workers format their
// lines into their own bounded buffer (AccessLogShard::log never blocks and never allocates in
// the steady state); one writer thread moves the bytes to the sink. When the sink stalls and a
// worker's buffer is full, lines are dropped and counted, traffic is never slowed.
#pragma once
#include "config/spec.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::observe {

// Field names, in the default order (the JSON keys).
// ts request_id client_ip client_port method scheme host path protocol status bytes_received
// bytes_sent duration_s upstream_duration_s route upstream upstream_addr upstream_status flags
// tls_version user_agent referer
enum class Field : std::uint8_t {
  ts, request_id, client_ip, client_port, method, scheme, host, path, protocol, status, bytes_received,
  bytes_sent, duration_s, upstream_duration_s, route, upstream, upstream_addr, upstream_status, flags,
  tls_version, user_agent, referer,
};
constexpr std::size_t kFieldCount = 22;
std::optional<Field> field_from_name(std::string_view name);
std::string_view field_name(Field f);

// The compiled selection from AccessLogSpec (built once per snapshot).
struct FieldSet {
  std::vector<Field> order;  // fields to write, in order
  bool query = false;        // append "?query" to path
  bool all_in_order = false; // every field, in the default order: from() sets it (a faster path)
  // Built by from(): each field's key as written, with what comes before it ("{\"ts\":",
  // ",\"status\":"), in a fixed-size block copied whole (the line's bound leaves room for the
  // bytes past `size`, which the value then overwrites); and the bytes of a line that do not
  // depend on the record.
  struct Key {
    std::array<char, 32> text{};
    std::uint8_t size = 0;
  };
  std::vector<Key> keys;
  std::size_t fixed_bound = 0;
  static FieldSet from(const config::AccessLogSpec& spec);  // spec already validated
};

// One request, as the data path saw it. Views are only read during log().
struct AccessRecord {
  std::chrono::system_clock::time_point ts;  // when the request head arrived
  std::string_view request_id, client_ip;
  std::uint16_t client_port = 0;
  std::string_view method, scheme, host, path, query, protocol;  // protocol: "HTTP/1.1"
  int status = 0;
  std::uint64_t bytes_received = 0, bytes_sent = 0;  // downstream, heads and bodies
  double duration_s = 0;
  std::optional<double> upstream_duration_s;         // absent: no upstream involved
  std::string_view route, upstream, upstream_addr;
  int upstream_status = 0;                           // 0: none
  std::string_view flags;                            // "NR", "UF,URX", ... (see flags.hpp)
  std::string_view tls_version, user_agent, referer;
};

class AccessLog;

// One worker's writer. log(): that worker's thread only. Never blocks, makes no system call
// except a rare eventfd write waking the writer thread (when its buffer crosses half full).
class AccessLogShard {
 public:
  // Formats and enqueues one line; returns false if it was dropped (buffer full).
  bool log(const AccessRecord& r, const FieldSet& fields);

 private:
  friend class AccessLog;
  struct Ring;
  explicit AccessLogShard(Ring* ring) : ring_(ring) {}
  Ring* ring_;
};

class AccessLog {
 public:
  // Opens the sink and starts the writer thread. nullptr with `error` set when the file cannot
  // be opened. A file is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC|O_NONBLOCK, mode 0644 (the
  // O_NONBLOCK only matters for a FIFO, which then needs a reader already). stdout/stderr are
  // used through a private descriptor (a pipe gets its own non-blocking open file description,
  // so a stalled reader never blocks the writer; the process's fd 1/2 and their flags are left
  // alone). `workers` shards, each with a ring of spec.buffer_size bytes.
  static std::unique_ptr<AccessLog> open(const config::AccessLogSpec& spec, unsigned workers, std::string& error);
  // Flushes what is buffered (waiting at most ~5 s for a stalled sink; what is left is counted
  // as dropped), stops the thread, closes the file. No shard may be in use any more.
  ~AccessLog();

  AccessLogShard& shard(unsigned worker);  // worker < the `workers` given to open()
  // Reopens the file (log rotation, SIGUSR1). Any thread. Returns false with `error` if the new
  // open failed (the old file stays in use). Opens the new file first, then hands it to the
  // writer thread, which drains into the old file and swaps; returns once swapped, so lines
  // logged before the call are in the old file (when it accepted them). stdout/stderr: no-op.
  bool reopen(std::string& error);
  // Lines dropped since start, all workers: refused by a full buffer, plus lines lost to a hard
  // write error (EPIPE, EIO...). EAGAIN and disk full keep the bytes buffered instead.
  std::uint64_t dropped() const;
  std::uint64_t written() const;   // lines written to the sink (counted by their newline)
  const std::string& path() const;

 private:
  struct Impl;
  explicit AccessLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Formats one access-log line into `out` (cleared first; its capacity is reused): a JSON object
// with the selected fields in order, followed by '\n'. Any thread; allocates only when `out` must
// grow. AccessLogShard::log uses it; exposed for tests and for anyone who needs the same line.
void format_line(const AccessRecord& r, const FieldSet& fields, std::string& out);
// The same line written at the start of `buf`, which only ever grows (no fill, no shrink between
// lines); returns its length.
std::size_t format_into(const AccessRecord& r, const FieldSet& fields, std::string& buf);
// The lowest-level form: how many bytes the line may need at most (every string byte escaped,
// with room for the formatter's whole-word copies), and the line written at `out`, which must
// have line_bound() bytes of room; returns the end of the line. AccessLogShard::log formats
// straight into its ring this way when the ring has the room.
std::size_t line_bound(const AccessRecord& r, const FieldSet& fields);
char* format_to(const AccessRecord& r, const FieldSet& fields, char* out);

// JSON string escaping (RFC 8259): quote, backslash and control characters escaped (\n, \t, ...
// or \u00XX); valid UTF-8 sequences copied; every byte that is not part of a valid UTF-8
// sequence written as \u00XX (its Latin-1 reading), so the output is always valid UTF-8 JSON
// whatever a client sent. Appends to `out`, without the surrounding quotes.
void json_escape(std::string_view in, std::string& out);

}  // namespace rampart::observe
