// Typed, error-collecting access to yaml-cpp nodes (see reader.hpp).
#include "config/reader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace rampart::config::detail {
namespace {

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// A null node's own mark is the next token's (or -1); blame the key instead.
YAML::Mark blame_mark(const YAML::Node& value, const YAML::Mark& key_mark) {
  if (!value.IsDefined() || value.IsNull() || value.Mark().is_null()) return key_mark;
  return value.Mark();
}

bool scalar(const Value& v) { return v.node.IsDefined() && v.node.IsScalar(); }

}  // namespace

Mark Reader::mark(const YAML::Mark& m) const {
  if (m.is_null() || m.line < 0) return Mark{file_, 0, 0};
  return Mark{file_, m.line + 1, m.column + 1};
}

void Reader::error(const YAML::Mark& at, std::string key_path, std::string message) {
  error(mark(at), std::move(key_path), std::move(message));
}

void Reader::error(const Mark& at, std::string key_path, std::string message) {
  diagnostics_.push_back(Diagnostic{at, std::move(message), std::move(key_path)});
}

MapView::MapView(Reader& reader, const Value& v, std::initializer_list<std::string_view> allowed)
    : reader_(reader), self_(v) {
  if (!v.node.IsDefined() || !v.node.IsMap()) {
    reader_.error(v.mark, v.path, "expected a mapping");
    return;
  }
  ok_ = true;
  std::vector<std::string> allowed_names(allowed.begin(), allowed.end());
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    // Copies: `it->` yields a temporary proxy, so a reference into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      reader_.error(key.Mark(), v.path, "expected a string key");
      continue;
    }
    const std::string name = key.Scalar();
    const std::string path = child_path(v.path, name);
    auto first = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == name; });
    if (first != entries_.end()) {
      reader_.error(key.Mark(), path,
                    "duplicate key '" + name + "' (first at line " +
                        std::to_string(reader_.mark(first->key_mark).line) + ")");
      continue;
    }
    if (!allowed_names.empty() &&
        std::find(allowed_names.begin(), allowed_names.end(), name) == allowed_names.end()) {
      reader_.error(key.Mark(), path, "unknown key '" + name + "'" + did_you_mean(name, allowed_names));
      continue;
    }
    entries_.push_back(Entry{name, Value{value, blame_mark(value, key.Mark()), path}, key.Mark()});
  }
}

std::optional<Value> MapView::get(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return e.value;
  }
  return std::nullopt;
}

std::optional<Value> MapView::require(std::string_view key) const {
  auto v = get(key);
  if (!v && ok_) {
    reader_.error(self_.mark, child_path(self_.path, key), "missing required key '" + std::string(key) + "'");
  }
  return v;
}

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(to_lower(word), to_lower(c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string s = suggest(word, candidates);
  return s.empty() ? std::string() : " (did you mean '" + s + "'?)";
}

std::optional<std::string> read_string(Reader& r, const Value& v) {
  if (!scalar(v)) {
    r.error(v.mark, v.path, "expected a string");
    return std::nullopt;
  }
  return v.node.Scalar();
}

std::optional<std::string> read_nonempty_string(Reader& r, const Value& v) {
  auto s = read_string(r, v);
  if (s && s->empty()) {
    r.error(v.mark, v.path, "must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<Duration> read_duration(Reader& r, const Value& v) {
  std::optional<Duration> d;
  if (scalar(v)) d = core::parse_duration(v.node.Scalar());
  if (!d) r.error(v.mark, v.path, "expected a duration like 250ms or 60s");
  return d;
}

std::optional<std::uint64_t> read_size(Reader& r, const Value& v, std::uint64_t max) {
  std::optional<std::uint64_t> n;
  if (scalar(v)) n = core::parse_size(v.node.Scalar());
  if (!n) {
    r.error(v.mark, v.path, "expected a size like 16k or 1m");
    return std::nullopt;
  }
  if (*n > max) {
    r.error(v.mark, v.path, "size must be at most " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<std::uint64_t> read_uint(Reader& r, const Value& v, std::uint64_t min, std::uint64_t max) {
  // Only plain decimal digits: yaml-cpp's as<int>() would also take "0x10" or "+5".
  std::optional<std::uint64_t> n;
  if (scalar(v)) {
    const std::string& s = v.node.Scalar();
    if (!s.empty() && s.size() <= 19 &&
        std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      n = std::stoull(s);
    }
  }
  if (!n) {
    r.error(v.mark, v.path, "expected an integer");
    return std::nullopt;
  }
  if (*n < min || *n > max) {
    r.error(v.mark, v.path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> read_bool(Reader& r, const Value& v) {
  if (scalar(v)) {
    const std::string s = to_lower(v.node.Scalar());
    if (s == "true") return true;
    if (s == "false") return false;
  }
  r.error(v.mark, v.path, "expected true or false");
  return std::nullopt;
}

std::optional<double> read_number(Reader& r, const Value& v, double min, double max) {
  std::optional<double> n;
  if (scalar(v)) {
    const std::string& s = v.node.Scalar();
    // from_chars takes no leading '+' or whitespace; reject "nan"/"inf" and any trailing text.
    double x = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size() && std::isfinite(x)) n = x;
  }
  if (!n) {
    r.error(v.mark, v.path, "expected a number");
    return std::nullopt;
  }
  if (!(*n >= min && *n <= max)) {
    r.error(v.mark, v.path, "must be between " + format_number(min) + " and " + format_number(max));
    return std::nullopt;
  }
  return n;
}

std::optional<std::vector<Value>> read_list(Reader& r, const Value& v) {
  if (!v.node.IsDefined() || !v.node.IsSequence()) {
    r.error(v.mark, v.path, "expected a list");
    return std::nullopt;
  }
  std::vector<Value> items;
  std::size_t i = 0;
  for (const YAML::Node& item : v.node) {
    const YAML::Mark m = item.IsNull() || item.Mark().is_null() ? v.mark : item.Mark();
    items.push_back(Value{item, m, v.path + "[" + std::to_string(i++) + "]"});
  }
  return items;
}

std::optional<std::vector<Value>> read_string_or_list(Reader& r, const Value& v) {
  if (scalar(v)) return std::vector<Value>{v};
  if (!v.node.IsDefined() || !v.node.IsSequence()) {
    r.error(v.mark, v.path, "expected a string or a list of strings");
    return std::nullopt;
  }
  return read_list(r, v);
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
  });
}

bool has_ctl_breaks(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string format_mark(const Mark& m) {
  if (m.line <= 0) return m.file;
  return m.file + ":" + std::to_string(m.line) + ":" + std::to_string(m.col);
}

std::string format_number(double x) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), x);
  return ec == std::errc() ? std::string(buf.data(), end) : std::string("0");
}

}  // namespace rampart::config::detail
