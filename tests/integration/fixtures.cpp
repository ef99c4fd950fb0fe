#include "fixtures.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace it {

const char* const standard_config_template = R"(version: 1
workers: {{WORKERS}}
drain_timeout: {{DRAIN}}
admin: {address: "{{ADMIN}}"}
watch: {{WATCH}}
{{TOP}}listeners:
  - {name: http, address: "{{LISTEN}}"}
defaults: {connect_timeout: 1s, read_timeout: {{READ_TIMEOUT}}, client_header_timeout: 2s, client_body_timeout: 2s, keepalive_timeout: 3s, max_body_size: 1m, max_request_line: 8k, max_header_bytes: 32k, max_headers: 100, trusted_proxies: ["127.0.0.2/32"]}
servers:
  - name: app
    hosts: ["*"]
    routes:
      - {name: api, path: /api/, match: prefix, upstream: api, rewrite_prefix: /}
      - {name: old, path: /old, match: exact, redirect: {status: 301, path: /new}}
      - {name: ping, path: /ping, match: exact, respond: {status: 200, body: "pong\n", content_type: text/plain}}
      - {name: canary, path: /canary, match: exact, headers: [{name: x-canary, value: "1"}], respond: {status: 200, body: "canary\n"}}
      - {name: getonly, path: /getonly, match: exact, methods: [GET], respond: {status: 200, body: "get\n"}}
      - {name: re, path: "^/re/[0-9]+$", match: regex, respond: {status: 200, body: "regex\n"}}
      - {name: dead, path: /dead/, upstream: dead}
      - {name: big, path: /upload, upstream: web, max_body_size: 0, rewrite_prefix: /echo}
{{EXTRA_ROUTES}}      - {name: web, path: /, upstream: web, request_headers: {set: {x-route: web}}, response_headers: {set: {x-served-by: {{SERVED_BY}}}}}
  - name: wild
    hosts: ["*.wild.example"]
    routes:
      - {name: wild, path: /, respond: {status: 200, body: "wild\n"}}
  - name: only
    hosts: ["only.example"]
    routes:
      - {name: here, path: /here, match: exact, respond: {status: 200, body: "here\n"}}
upstreams:
  - {name: api, endpoints: ["{{API1}}", "{{API2}}"]}
  - {name: web, endpoints: ["{{WEB}}"], max_idle_per_endpoint: 16}
  - {name: dead, endpoints: ["{{DEAD}}"]}
{{EXTRA_UPSTREAMS}})";

std::uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);  // never listened: connecting to it is refused
  return ntohs(addr.sin_port);
}

Stack::Stack(std::map<std::string, std::string> overrides) {
  dead = closed_port();
  values = {
      {"API1", api1.address()},
      {"API2", api2.address()},
      {"WEB", web.address()},
      {"DEAD", "127.0.0.1:" + std::to_string(dead)},
      {"SERVED_BY", "rampart"},
      {"WORKERS", "2"},
      {"DRAIN", "5s"},
      {"READ_TIMEOUT", "2s"},
      {"EXTRA_ROUTES", ""},
      {"EXTRA_UPSTREAMS", ""},
      {"ADMIN", "127.0.0.1:0"},
      {"LISTEN", "127.0.0.1:0"},
      {"TOP", ""},
      // Tests reload with Proxy::reload (rewrite + SIGHUP); a watcher would add a second reload
      // racing the next one. The file-watching tests turn it on.
      {"WATCH", "false"},
  };
  for (auto& [k, v] : overrides) values[k] = v;
  proxy = std::make_unique<Proxy>(config());
}

std::string Stack::config(const std::map<std::string, std::string>& overrides) const {
  auto v = values;
  for (auto& [k, val] : overrides) v[k] = val;
  // Twice: values such as EXTRA_UPSTREAMS may use the other placeholders ({{API1}}...).
  return subst(subst(standard_config_template, v), v);
}

Response get(std::uint16_t port, const std::string& target, const std::string& extra,
             const std::string& host) {
  return fetch(port, request("GET", target, extra, "", host));
}

Echo require_echo(const Response& r) {
  INFO("status " << r.status << "\n" << r.raw_head << r.body.substr(0, 2000));
  REQUIRE_RESPONSE(r);
  REQUIRE(r.status == 200);
  Echo e = parse_echo(r.body);
  INFO(e.error);
  REQUIRE(e.ok);
  return e;
}

std::map<std::string, std::string> upstream_stats(const Upstream& u) {
  Response r = get(u.port(), "/stats");
  INFO(r.raw_head << r.body);
  REQUIRE_RESPONSE(r);
  REQUIRE(r.status == 200);
  Echo e = parse_echo(r.body);  // only the scalar fields matter here
  REQUIRE(!e.fields.empty());
  return e.fields;
}

Response admin_get(const Proxy& proxy, const std::string& target) {
  return fetch(proxy.admin_port(), request("GET", target, "", "", "127.0.0.1"));
}

namespace {

// Reads a label value after its opening quote; `i` ends after the closing quote.
bool read_label_value(const std::string& line, std::size_t& i, std::string& out) {
  while (i < line.size()) {
    char c = line[i++];
    if (c == '"') return true;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i >= line.size()) return false;
    char e = line[i++];
    if (e == 'n') out.push_back('\n');
    else if (e == '\\' || e == '"') out.push_back(e);
    else return false;
  }
  return false;
}

}  // namespace

std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    INFO("exposition line: " << line);
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    REQUIRE(!s.name.empty());
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        REQUIRE(eq != std::string::npos);
        std::string key = line.substr(i, eq - i);
        i = eq + 1;
        REQUIRE(i < line.size());
        REQUIRE(line[i] == '"');
        ++i;
        std::string value;
        REQUIRE(read_label_value(line, i, value));
        s.labels[key] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      REQUIRE(i < line.size());
      ++i;  // '}'
    }
    REQUIRE(i < line.size());
    REQUIRE(line[i] == ' ');
    std::string rest = line.substr(i + 1);
    std::string number = rest.substr(0, rest.find(' '));  // an optional timestamp follows
    char* end = nullptr;
    s.value = std::strtod(number.c_str(), &end);
    REQUIRE(end == number.c_str() + number.size());
    REQUIRE(!number.empty());
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sample> scrape(const Proxy& proxy) {
  Response r = admin_get(proxy, "/metrics");
  INFO(r.raw_head << r.body.substr(0, 2000));
  REQUIRE_RESPONSE(r);
  REQUIRE(r.status == 200);
  return parse_exposition(r.body);
}

double metric(const std::vector<Sample>& samples, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  double sum = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        match = false;
        break;
      }
    }
    if (match) sum += s.value;
  }
  return sum;
}

void write_atomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".writing";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
    REQUIRE(f.good());
  }
  REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

std::string run_tool(const std::string& bin, const std::vector<std::string>& args, Ms timeout) {
  Process p(bin, args);
  auto code = p.try_wait_exit(timeout);
  INFO(bin << " timed out");
  REQUIRE(code.has_value());
  return p.raw_stdout(true, 5s) + p.raw_stderr();
}

}  // namespace it
