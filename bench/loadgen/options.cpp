#include "options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace rampart::bench {

const char* const usage_text =
    "usage: rampart-bench [options] URL   (http://HOST:PORT/path or https://...)\n"
    "  -c, --connections N     concurrent connections (default 64)\n"
    "  -d, --duration D        measured time, e.g. 10s, 500ms (default 10s)\n"
    "  -w, --warmup D          unmeasured warm-up before it (default 1s; 0 allowed)\n"
    "  -t, --threads N         event-loop threads (default 1)\n"
    "  -m, --streams N         HTTP/2 concurrent streams per connection (default 1)\n"
    "      --h2                HTTP/2 over TLS (ALPN h2); the URL must be https\n"
    "  -R, --rate N            open loop: N requests/s in total; latency from scheduled time\n"
    "      --new-conn          one new connection per request\n"
    "      --no-session-reuse  TLS: full handshakes only (no resumption, no tickets)\n"
    "  -X, --method M          request method (default GET)\n"
    "  -H, --header 'N: v'     extra request header (repeatable)\n"
    "  -b, --body-size N       request body of N bytes (default 0)\n"
    "      --accept-encoding V send Accept-Encoding: V\n"
    "      --timeout D         per-request timeout (default 10s)\n"
    "      --json              print the JSON result instead of the table\n"
    "  -q, --quiet             no banner\n"
    "  -h, --help              this text\n";

std::string url::authority() const {
  std::string out;
  if (host.find(':') != std::string::npos) out.append("[").append(host).append("]");
  else out = host;
  const std::uint16_t default_port = tls() ? 443 : 80;
  if (port != default_port) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class T>
bool parse_unsigned(std::string_view text, T& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Flags that take a value, by long name; short aliases map onto them.
struct flag_def {
  char short_name;
  std::string_view long_name;
  bool takes_value;
};

constexpr flag_def flag_defs[] = {
    {'c', "connections", true}, {'d', "duration", true},  {'w', "warmup", true},
    {'t', "threads", true},     {'m', "streams", true},   {0, "h2", false},
    {'R', "rate", true},        {0, "new-conn", false},   {0, "no-session-reuse", false},
    {'X', "method", true},      {'H', "header", true},    {'b', "body-size", true},
    {0, "accept-encoding", true}, {0, "timeout", true},   {0, "json", false},
    {'q', "quiet", false},      {'h', "help", false},
};

bool apply(const flag_def& f, std::string_view value, options& o, std::string& error) {
  const auto bad = [&](std::string_view what) {
    error = "bad value for --" + std::string(f.long_name) + ": '" + std::string(value) + "' (" +
            std::string(what) + ")";
    return false;
  };
  const std::string_view name = f.long_name;
  if (name == "connections") {
    if (!parse_unsigned(value, o.connections) || o.connections == 0) return bad("a positive integer");
  } else if (name == "threads") {
    if (!parse_unsigned(value, o.threads) || o.threads == 0) return bad("a positive integer");
  } else if (name == "streams") {
    if (!parse_unsigned(value, o.streams) || o.streams == 0) return bad("a positive integer");
  } else if (name == "duration" || name == "warmup" || name == "timeout") {
    auto d = parse_duration(value);
    if (!d) return bad("a duration like 10s or 500ms");
    if (name == "duration") {
      if (*d <= 0) return bad("must be more than 0");
      o.duration_ns = *d;
    } else if (name == "warmup") {
      o.warmup_ns = *d;
    } else {
      if (*d <= 0) return bad("must be more than 0");
      o.timeout_ns = *d;
    }
  } else if (name == "rate") {
    char* end = nullptr;
    const std::string s(value);
    o.rate = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !(o.rate > 0) || !std::isfinite(o.rate))
      return bad("a positive number of requests per second");
  } else if (name == "method") {
    if (!is_token(value)) return bad("an HTTP method token");
    o.method = std::string(value);
  } else if (name == "header") {
    const auto colon = value.find(':');
    if (colon == std::string_view::npos) return bad("'Name: value'");
    const std::string_view n = value.substr(0, colon);
    const std::string_view v = trim(value.substr(colon + 1));
    if (!is_token(n)) return bad("the name is not a token");
    if (v.find_first_of("\r\n") != std::string_view::npos) return bad("line breaks in the value");
    o.headers.emplace_back(std::string(n), std::string(v));
  } else if (name == "body-size") {
    if (!parse_unsigned(value, o.body_size)) return bad("a number of bytes");
  } else if (name == "accept-encoding") {
    if (value.find_first_of("\r\n") != std::string_view::npos) return bad("line breaks in the value");
    o.accept_encoding = std::string(value);
  } else if (name == "h2") {
    o.h2 = true;
  } else if (name == "new-conn") {
    o.new_conn = true;
  } else if (name == "no-session-reuse") {
    o.session_reuse = false;
  } else if (name == "json") {
    o.json = true;
  } else if (name == "quiet") {
    o.quiet = true;
  } else if (name == "help") {
    o.help = true;
  }
  return true;
}

bool validate(options& o, std::string& error) {
  if (o.h2 && !o.target.tls()) {
    error = "--h2 needs an https:// URL (HTTP/2 is spoken over TLS with ALPN)";
    return false;
  }
  if (!o.h2 && o.streams != 1) {
    error = "-m/--streams above 1 needs --h2 (HTTP/1.1 pipelining is not supported)";
    return false;
  }
  if (o.h2 && o.new_conn) {
    error = "--new-conn is for HTTP/1.1 (with --h2 use -c and -m instead)";
    return false;
  }
  if (o.threads > o.connections) {
    error = "--threads (" + std::to_string(o.threads) + ") must not exceed --connections (" +
            std::to_string(o.connections) + ")";
    return false;
  }
  return true;
}

}  // namespace

bool parse_url(std::string_view text, url& out, std::string& error) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    error = "URL must start with http:// or https://";
    return false;
  }
  out = url{};
  out.scheme = lower(text.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    error = "unsupported URL scheme '" + out.scheme + "' (http or https)";
    return false;
  }
  std::string_view rest = text.substr(sep + 3);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const auto path_at = rest.find_first_of("/?");
  std::string_view hostport = rest.substr(0, path_at);
  out.target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  if (out.target.find_first_of(" \t\r\n") != std::string::npos) {
    error = "URL path must not contain spaces or line breaks";
    return false;
  }
  if (hostport.find('@') != std::string_view::npos) {
    error = "URL user info is not supported";
    return false;
  }
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated IPv6 literal in URL";
      return false;
    }
    out.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "unexpected text after the IPv6 literal in URL";
        return false;
      }
      port_text = after.substr(1);
      if (port_text.empty()) {
        error = "empty port in URL";
        return false;
      }
    }
  } else {
    const auto colon = hostport.find(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) {
        error = "empty port in URL";
        return false;
      }
    }
  }
  if (out.host.empty()) {
    error = "URL has no host";
    return false;
  }
  out.port = out.tls() ? 443 : 80;
  if (!port_text.empty()) {
    unsigned port = 0;
    if (!parse_unsigned(port_text, port) || port == 0 || port > 65535) {
      error.assign("bad port '").append(port_text).append("' in URL");
      return false;
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  return true;
}

std::optional<std::int64_t> parse_duration(std::string_view text) {
  std::size_t num_end = 0;
  while (num_end < text.size() && (std::isdigit(static_cast<unsigned char>(text[num_end])) || text[num_end] == '.'))
    ++num_end;
  const std::string number(text.substr(0, num_end));
  const std::string_view unit = text.substr(num_end);
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 || number == ".") return std::nullopt;
  const double value = std::strtod(number.c_str(), nullptr);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "us") scale = 1e3;
  else if (unit == "m") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else return std::nullopt;
  const double ns = value * scale;
  if (!std::isfinite(ns) || ns > 9e18) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(ns));
}

bool parse_options(int argc, const char* const* argv, options& out, std::string& error) {
  out = options{};
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const flag_def* def = nullptr;
    std::optional<std::string_view> inline_value;
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      std::string_view name = arg.substr(2);
      if (const auto eq = name.find('='); eq != std::string_view::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      for (const auto& f : flag_defs)
        if (f.long_name == name) def = &f;
      if (!def) {
        error = "unknown option '" + std::string(arg) + "'";
        return false;
      }
      if (!def->takes_value && inline_value) {
        error = "option --" + std::string(name) + " takes no value";
        return false;
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      for (const auto& f : flag_defs)
        if (f.short_name == arg[1]) def = &f;
      if (!def) {
        error = "unknown option '" + std::string(arg) + "'";
        return false;
      }
      if (arg.size() > 2) {
        if (!def->takes_value) {
          error = "option -" + std::string(1, arg[1]) + " takes no value";
          return false;
        }
        inline_value = arg.substr(2);
      }
    } else {
      if (have_url) {
        error = "more than one URL given ('" + out.url_text + "' and '" + std::string(arg) + "')";
        return false;
      }
      if (!parse_url(arg, out.target, error)) return false;
      out.url_text = std::string(arg);
      have_url = true;
      continue;
    }
    std::string_view value;
    if (def->takes_value) {
      if (inline_value) {
        value = *inline_value;
      } else {
        if (i + 1 >= argc) {
          error = "option --" + std::string(def->long_name) + " needs a value";
          return false;
        }
        value = argv[++i];
      }
    }
    if (!apply(*def, value, out, error)) return false;
  }
  if (out.help) return true;
  if (!have_url) {
    error = "no URL given";
    return false;
  }
  return validate(out, error);
}

}  // namespace rampart::bench
