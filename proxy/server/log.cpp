#include "server/log.hpp"

#include "observe/access_log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace rampart::server {

void Log::configure(const config::LogSpec& spec) {
  json_ = spec.format == "json";
  Level l = spec.level == "debug" ? Level::debug
            : spec.level == "warn" ? Level::warn
            : spec.level == "error" ? Level::error
                                    : Level::info;
  min_ = static_cast<int>(l);
}

void Log::write(Level l, const char* fmt, ...) {
  if (!enabled(l)) return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  emit(l, std::string(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1))));
}

void Log::write_lines(Level l, const std::string& text) {
  if (!enabled(l)) return;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) emit(l, text.substr(start, end - start), /*raw=*/true);
    start = end + 1;
  }
}

void Log::emit(Level l, const std::string& msg, bool raw) {
  static constexpr const char* names[] = {"debug", "info", "warn", "error"};
  std::string line;
  if (json_) {
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char ts[40];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    line.append("{\"ts\":\"").append(ts).append("\",\"level\":\"").append(names[static_cast<int>(l)]);
    line.append("\",\"msg\":\"");
    observe::json_escape(msg, line);
    line.append("\"}\n");
  } else if (raw) {
    line.append(msg).append("\n");
  } else {
    // Text lines keep one stable shape ("rampart: <event> key=value..."), whatever the level:
    // scripts and tests match on them. The level is explicit in the JSON format.
    line.append("rampart: ").append(msg).append("\n");
  }
  // One write per line so lines from several threads never interleave.
  for (std::size_t off = 0; off < line.size();) {
    ssize_t w = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (w <= 0) break;
    off += static_cast<std::size_t>(w);
  }
}

}  // namespace rampart::server
