// Rampart's own log (not the access log): one line per event on stderr, as text
// ("rampart: listening name=http address=0.0.0.0:8080") or as JSON
// ({"ts":"2026-11-28T08:40:01.123Z","level":"info","msg":"listening name=http address=..."}),
// filtered by level. Thread-safe: a line is one write(2).
#pragma once
#include "config/spec.hpp"

#include <atomic>
#include <cstdarg>
#include <string>

namespace rampart::server {

enum class Level : int { debug = 0, info = 1, warn = 2, error = 3 };

class Log {
 public:
  // Applies log.format and log.level (at start and on every reload).
  void configure(const config::LogSpec& spec);
  bool enabled(Level l) const { return static_cast<int>(l) >= min_.load(std::memory_order_relaxed); }
  // printf-style message without the "rampart: " prefix or a newline.
  void write(Level l, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // Several lines (diagnostics, which carry their own "file:line:col: error:" prefix) at one
  // level, each its own log line: as they are in text format, as the msg in JSON.
  void write_lines(Level l, const std::string& text);

 private:
  void emit(Level l, const std::string& msg, bool raw = false);
  std::atomic<int> min_{static_cast<int>(Level::info)};
  std::atomic<bool> json_{false};
};

}  // namespace rampart::server
