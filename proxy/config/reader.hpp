// Typed, error-collecting access to yaml-cpp nodes. Internal to config/: every read either yields
// a value or records one Diagnostic (file:line:col + key path) and yields nothing, so that the
// loader can keep going and report every error at once.
#pragma once
#include "config/spec.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::config::detail {

// Sink for the diagnostics of one file. Not thread-safe; one per file being read.
class Reader {
 public:
  Reader(std::string file, std::vector<Diagnostic>& diagnostics)
      : file_(std::move(file)), diagnostics_(diagnostics) {}
  const std::string& file() const { return file_; }
  // yaml-cpp marks are 0-based (and -1 when unknown); ours are 1-based (0 when unknown).
  Mark mark(const YAML::Mark& m) const;
  void error(const YAML::Mark& at, std::string key_path, std::string message);
  void error(const Mark& at, std::string key_path, std::string message);
  std::size_t error_count() const { return diagnostics_.size(); }

 private:
  std::string file_;
  std::vector<Diagnostic>& diagnostics_;
};

// A node with the place to blame for it and its key path. `mark` is the node's own mark, or the
// mark of its key when the node is null (yaml-cpp puts a null value's mark on the next token).
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;
};

// Checks that `v` is a mapping whose keys are unique strings from `allowed` (empty = any key),
// reporting duplicates and unknown keys (with a did-you-mean suggestion).
class MapView {
 public:
  MapView(Reader& reader, const Value& v, std::initializer_list<std::string_view> allowed);
  bool ok() const { return ok_; }
  const Value& self() const { return self_; }
  // First occurrence of `key`, or nullopt when absent.
  std::optional<Value> get(std::string_view key) const;
  // Like get(), but reports "missing required key" (at the enclosing map) when absent.
  std::optional<Value> require(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).has_value(); }
  // Every distinct key with its value, in file order (used for free-form maps).
  struct Entry {
    std::string key;
    Value value;
    YAML::Mark key_mark;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  Reader& reader_;
  Value self_;
  bool ok_ = false;
  std::vector<Entry> entries_;
};

// Closest candidate within a small edit distance, or empty.
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// Scalar readers: each reports "expected ..." at v.mark and returns nullopt on failure.
std::optional<std::string> read_string(Reader& r, const Value& v);
std::optional<std::string> read_nonempty_string(Reader& r, const Value& v);
std::optional<Duration> read_duration(Reader& r, const Value& v);
std::optional<std::uint64_t> read_size(Reader& r, const Value& v, std::uint64_t max);
std::optional<std::uint64_t> read_uint(Reader& r, const Value& v, std::uint64_t min, std::uint64_t max);
std::optional<bool> read_bool(Reader& r, const Value& v);
// A finite decimal number ("0.25", "1", "1e-3") in [min, max]; no "nan", "inf" or "50%".
std::optional<double> read_number(Reader& r, const Value& v, double min, double max);
// Items of a sequence with paths "path[i]".
std::optional<std::vector<Value>> read_list(Reader& r, const Value& v);
// A single scalar is taken as a one-item list.
std::optional<std::vector<Value>> read_string_or_list(Reader& r, const Value& v);

// Convenience: if `key` is present and reads well, assign it to `out`.
template <class T, class Read>
void assign(const MapView& m, std::string_view key, T& out, Read read) {
  if (auto v = m.get(key)) {
    if (auto x = read(*v)) out = static_cast<T>(*x);
  }
}

// HTTP token (RFC 9110 tchar), as used by header names and methods.
bool is_token(std::string_view s);
bool has_ctl_breaks(std::string_view s);  // CR, LF or NUL
std::string to_lower(std::string_view s);
std::string to_upper(std::string_view s);
std::string format_mark(const Mark& m);  // "file:line:col"
// Shortest text that reads back (std::from_chars) as exactly `x`: "0.1", "1", "1e-05".
std::string format_number(double x);

}  // namespace rampart::config::detail
