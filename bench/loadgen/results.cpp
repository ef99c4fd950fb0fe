#include "results.hpp"

#include <cmath>
#include <cstdio>

namespace rampart::bench {

void counters::merge(const counters& o) {
  requests += o.requests;
  bytes_received += o.bytes_received;
  for (std::size_t i = 0; i < status.size(); ++i) status[i] += o.status[i];
  connect_errors += o.connect_errors;
  timeouts += o.timeouts;
  resets += o.resets;
  protocol_errors += o.protocol_errors;
  tls_errors += o.tls_errors;
  connections_opened += o.connections_opened;
  tls_handshakes += o.tls_handshakes;
  tls_resumed += o.tls_resumed;
}

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

double rps(const run_summary& s) {
  return s.duration_s > 0 ? static_cast<double>(s.totals.c.requests) / s.duration_s : 0.0;
}
double mib_per_s(const run_summary& s) {
  return s.duration_s > 0 ? static_cast<double>(s.totals.c.bytes_received) / 1048576.0 / s.duration_s : 0.0;
}

}  // namespace

std::string format_us(double v) {
  char buf[32];
  if (v < 1000.0) std::snprintf(buf, sizeof buf, "%.2fus", v);
  else if (v < 1e6) std::snprintf(buf, sizeof buf, "%.2fms", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.2fs", v / 1e6);
  return buf;
}

std::string format_json(const run_summary& s) {
  const options& o = *s.opts;
  const counters& c = s.totals.c;
  const histogram& h = s.totals.latency;
  std::string j = "{";
  j += "\"url\":" + json_string(o.url_text);
  j += ",\"protocol\":" + std::string(o.h2 ? "\"h2\"" : "\"http/1.1\"");
  j += ",\"tls\":" + std::string(o.target.tls() ? "true" : "false");
  j += ",\"connections\":" + num(std::uint64_t{o.connections});
  j += ",\"streams\":" + num(std::uint64_t{o.streams});
  j += ",\"threads\":" + num(std::uint64_t{o.threads});
  j += ",\"mode\":" + std::string(o.open_loop() ? "\"open\"" : "\"closed\"");
  j += ",\"rate\":" + (o.open_loop() ? num(o.rate) : std::string("null"));
  j += ",\"duration_s\":" + num(s.duration_s);
  j += ",\"requests\":" + num(c.requests);
  j += ",\"rps\":" + num(rps(s));
  j += ",\"bytes_received\":" + num(c.bytes_received);
  j += ",\"mib_per_s\":" + num(mib_per_s(s));
  j += ",\"latency_us\":{\"min\":" + num(us(h.min())) + ",\"mean\":" + num(h.mean() / 1000.0) +
       ",\"p50\":" + num(us(h.percentile(50))) + ",\"p90\":" + num(us(h.percentile(90))) +
       ",\"p99\":" + num(us(h.percentile(99))) + ",\"p999\":" + num(us(h.percentile(99.9))) +
       ",\"max\":" + num(us(h.max())) + "}";
  j += ",\"status\":{\"1xx\":" + num(c.status[0]) + ",\"2xx\":" + num(c.status[1]) + ",\"3xx\":" + num(c.status[2]) +
       ",\"4xx\":" + num(c.status[3]) + ",\"5xx\":" + num(c.status[4]) + "}";
  j += ",\"errors\":{\"connect\":" + num(c.connect_errors) + ",\"timeout\":" + num(c.timeouts) +
       ",\"reset\":" + num(c.resets) + ",\"protocol\":" + num(c.protocol_errors) + ",\"tls\":" + num(c.tls_errors) + "}";
  j += ",\"connections_opened\":" + num(c.connections_opened);
  j += ",\"tls_handshakes\":" + num(c.tls_handshakes);
  j += ",\"tls_resumed\":" + num(c.tls_resumed);
  j += "}\n";
  return j;
}

std::string format_table(const run_summary& s) {
  const options& o = *s.opts;
  const counters& c = s.totals.c;
  const histogram& h = s.totals.latency;
  std::string t;
  char line[256];
  std::snprintf(line, sizeof line, "  %zu threads and %zu connections, %s%s, %s loop", o.threads, o.connections,
                o.h2 ? "h2" : "http/1.1", o.target.tls() ? " over TLS" : "", o.open_loop() ? "open" : "closed");
  t += line;
  if (o.h2) t += ", " + std::to_string(o.streams) + " streams/connection";
  if (o.open_loop()) {
    std::snprintf(line, sizeof line, ", target %.0f req/s", o.rate);
    t += line;
  }
  if (o.new_conn) t += ", new connection per request";
  t += "\n";
  std::snprintf(line, sizeof line, "  %-9s %10s %10s %10s %10s %10s %10s %10s\n", "Latency", "min", "mean", "p50",
                "p90", "p99", "p99.9", "max");
  t += line;
  std::snprintf(line, sizeof line, "  %-9s %10s %10s %10s %10s %10s %10s %10s\n", "", format_us(us(h.min())).c_str(),
                format_us(h.mean() / 1000.0).c_str(), format_us(us(h.percentile(50))).c_str(),
                format_us(us(h.percentile(90))).c_str(), format_us(us(h.percentile(99))).c_str(),
                format_us(us(h.percentile(99.9))).c_str(), format_us(us(h.max())).c_str());
  t += line;
  std::snprintf(line, sizeof line, "  %llu requests in %.2fs, %.2f MiB read\n",
                static_cast<unsigned long long>(c.requests), s.duration_s,
                static_cast<double>(c.bytes_received) / 1048576.0);
  t += line;
  std::snprintf(line, sizeof line, "  Status: 1xx %llu, 2xx %llu, 3xx %llu, 4xx %llu, 5xx %llu\n",
                static_cast<unsigned long long>(c.status[0]), static_cast<unsigned long long>(c.status[1]),
                static_cast<unsigned long long>(c.status[2]), static_cast<unsigned long long>(c.status[3]),
                static_cast<unsigned long long>(c.status[4]));
  t += line;
  std::snprintf(line, sizeof line, "  Errors: connect %llu, timeout %llu, reset %llu, protocol %llu, tls %llu\n",
                static_cast<unsigned long long>(c.connect_errors), static_cast<unsigned long long>(c.timeouts),
                static_cast<unsigned long long>(c.resets), static_cast<unsigned long long>(c.protocol_errors),
                static_cast<unsigned long long>(c.tls_errors));
  t += line;
  std::snprintf(line, sizeof line, "  Connections opened %llu", static_cast<unsigned long long>(c.connections_opened));
  t += line;
  if (o.target.tls()) {
    std::snprintf(line, sizeof line, ", TLS handshakes %llu (resumed %llu)",
                  static_cast<unsigned long long>(c.tls_handshakes), static_cast<unsigned long long>(c.tls_resumed));
    t += line;
  }
  t += "\n";
  std::snprintf(line, sizeof line, "Requests/sec: %12.2f\nTransfer/sec: %10.2f MiB\n", rps(s), mib_per_s(s));
  t += line;
  return t;
}

}  // namespace rampart::bench
