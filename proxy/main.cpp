// rampart: the command line. The only place that wires modules together.
#include "admin/server.hpp"
#include "config/load.hpp"
#include "server/control.hpp"
#include "snapshot/snapshot.hpp"

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#ifndef RAMPART_VERSION
#define RAMPART_VERSION "0.0.0"
#endif

namespace {

constexpr int kUsageError = 64;  // EX_USAGE

constexpr const char* kUsage =
    "usage: rampart [-c FILE]              run the proxy with FILE\n"
    "       rampart check -c FILE          validate FILE (every error as file:line:col), exit 0 or 1\n"
    "       rampart dump -c FILE           print the effective merged config as YAML\n"
    "       rampart version                print the version\n"
    "       rampart healthcheck [URL]      GET URL (default http://127.0.0.1:9901/readyz): exit 0 if 2xx, else 1\n"
    "       rampart --help                 this text\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   configuration file (YAML; its include: globs are followed)\n"
    "\n"
    "signals: SIGHUP reloads the configuration (the old one stays on any error);\n"
    "         SIGUSR1 reopens the access log file (log rotation);\n"
    "         SIGTERM/SIGINT: /readyz turns 503, traffic is served for shutdown_delay, then\n"
    "         listeners close and requests in flight finish (drain_timeout); exit 0.\n";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "rampart: %s\n%s", why.c_str(), kUsage);
  return kUsageError;
}

int check(const std::string& path, bool dump) {
  std::vector<rampart::config::Diagnostic> diags;
  auto spec = rampart::config::load(path, diags);
  if (spec) rampart::snapshot::build(*spec, 1, diags);  // also compiles routes, resolves endpoints
  if (!diags.empty()) {
    for (const auto& d : diags) std::fprintf(stderr, "%s\n", d.str().c_str());
    std::fprintf(stderr, "rampart: configuration file %s is invalid: %zu error(s)\n", path.c_str(), diags.size());
    return 1;
  }
  if (dump) {
    std::fputs(rampart::config::dump(*spec).c_str(), stdout);
  } else {
    std::printf("rampart: configuration file %s is valid\n", path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = "run";
  std::string config;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  std::size_t i = 0;
  if (i < args.size() && !args[i].starts_with("-")) command = std::string(args[i++]);
  if (command == "healthcheck") {
    if (args.size() > i + 1) return usage_error("healthcheck takes at most one URL");
    return rampart::admin::healthcheck(i < args.size() ? std::string(args[i]) : "http://127.0.0.1:9901/readyz");
  }
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      command = "version";
    } else if (a == "-c" || a == "--config") {
      if (i + 1 >= args.size()) return usage_error(std::string(a) + " needs a file");
      config = std::string(args[++i]);
    } else if (a.starts_with("--config=")) {
      config = std::string(a.substr(9));
    } else {
      return usage_error("unknown argument '" + std::string(a) + "'");
    }
  }
  if (command == "version") {
    std::printf("rampart %s\n", RAMPART_VERSION);
    return 0;
  }
  if (command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command != "run" && command != "check" && command != "dump")
    return usage_error("unknown command '" + command + "'");
  if (config.empty()) return usage_error("missing -c FILE");
  if (command == "check") return check(config, false);
  if (command == "dump") return check(config, true);
  rampart::server::Control control(config);
  return control.run();
}
