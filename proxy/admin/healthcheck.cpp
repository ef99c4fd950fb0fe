// `rampart healthcheck [URL]`: a tiny blocking HTTP/1.1 client for container HEALTHCHECKs on images
// without curl. One 2 s deadline covers connect, send and reading the status line (name resolution,
// for a URL with a host name, is the system resolver's own blocking call).
#include "admin/server.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

namespace rampart::admin {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kTimeout{2000};
constexpr std::string_view kDefaultUrl = "http://127.0.0.1:9901/readyz";
constexpr std::size_t kMaxStatusLine = 8192;

struct Target {
  core::HostPort address;
  std::string authority;  // for the Host header, as written in the URL
  std::string path;       // origin-form, with the query
};

// http://host[:port][/path[?query]]; port defaults to 80. Sets `error` on failure.
std::optional<Target> parse_url(std::string_view url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (url.size() < scheme.size() || url.substr(0, scheme.size()) != scheme) {
    error = url.substr(0, 8) == "https://" ? "only http:// URLs are supported" : "URL must start with http://";
    return std::nullopt;
  }
  url.remove_prefix(scheme.size());
  const auto end = url.find_first_of("/?#");
  Target t;
  t.authority = std::string(url.substr(0, end));
  std::string_view rest = end == std::string_view::npos ? std::string_view() : url.substr(end);
  rest = rest.substr(0, rest.find('#'));
  t.path = rest.empty() || rest.front() != '/' ? "/" + std::string(rest) : std::string(rest);
  for (char ch : t.path) {
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) {
      error = "bad character in URL path";
      return std::nullopt;
    }
  }
  if (t.authority.empty() || t.authority.find('@') != std::string::npos) {
    error = "bad host in URL";
    return std::nullopt;
  }
  const auto close = t.authority.rfind(']');
  const auto colon = t.authority.rfind(':');
  const bool has_port = colon != std::string::npos && (close == std::string::npos || colon > close);
  std::string reason;
  auto hp = core::parse_host_port(has_port ? t.authority : t.authority + ":80", false, reason);
  if (!hp) {
    error = "bad host or port in URL: " + reason;
    return std::nullopt;
  }
  t.address = std::move(*hp);
  return t;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Waits for `events` on `fd` until `deadline`. False on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0 || errno != EINTR) return false;
  }
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Connects to the first address that accepts before `deadline`. Returns the fd or -1 with `error`.
int connect_any(const core::HostPort& address, Clock::time_point deadline, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res) {
    error = std::string("cannot resolve ") + address.host + ": " + ::gai_strerror(rc);
    return -1;
  }
  error = "no address";
  int result = -1;
  for (addrinfo* ai = res; ai && result < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        if (!wait_for(fd, POLLOUT, deadline)) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof err;
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    if (err == 0) {
      result = fd;
    } else {
      error = err == ECONNREFUSED ? "connection refused" : err == ETIMEDOUT ? "timeout" : std::strerror(err);
      ::close(fd);
      if (err == ETIMEDOUT) break;  // the deadline is spent
    }
  }
  ::freeaddrinfo(res);
  return result;
}

bool send_all(int fd, std::string_view data, Clock::time_point deadline, std::string& error) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        error = "timeout";
        return false;
      }
    } else {
      error = std::string("send: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

// Reads up to the end of the status line and returns the status code, or -1 with `error`.
int read_status(int fd, Clock::time_point deadline, std::string& error) {
  std::string in;
  char buf[1024];
  while (in.find("\r\n") == std::string::npos) {
    if (in.size() > kMaxStatusLine) {
      error = "status line too long";
      return -1;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      in.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      error = in.empty() ? "connection closed without a response" : "truncated status line";
      return -1;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline)) {
        error = "timeout";
        return -1;
      }
    } else {
      error = std::string("recv: ") + std::strerror(errno);
      return -1;
    }
  }
  // "HTTP/1.x SSS reason"
  const std::string_view line(in.data(), in.find("\r\n"));
  const bool shape = line.size() >= 12 && line.substr(0, 7) == "HTTP/1." && line[8] == ' ' &&
                     (line.size() == 12 || line[12] == ' ');
  if (!shape) {
    error = "not an HTTP/1.x response";
    return -1;
  }
  int status = 0;
  for (char ch : line.substr(9, 3)) {
    if (ch < '0' || ch > '9') {
      error = "not an HTTP/1.x response";
      return -1;
    }
    status = status * 10 + (ch - '0');
  }
  return status;
}

}  // namespace

int healthcheck(const std::string& url_text) {
  const std::string url = url_text.empty() ? std::string(kDefaultUrl) : url_text;
  const auto fail = [&](const std::string& reason) {
    std::fprintf(stderr, "healthcheck %s: %s\n", url.c_str(), reason.c_str());
    return 1;
  };
  std::string error;
  const auto target = parse_url(url, error);
  if (!target) return fail(error);
  const auto deadline = Clock::now() + kTimeout;
  const Fd fd(connect_any(target->address, deadline, error));
  if (fd.get() < 0) return fail(error);
  const std::string request = "GET " + target->path + " HTTP/1.1\r\nHost: " + target->authority +
                              "\r\nUser-Agent: rampart-healthcheck\r\nConnection: close\r\n\r\n";
  if (!send_all(fd.get(), request, deadline, error)) return fail(error);
  const int status = read_status(fd.get(), deadline, error);
  if (status < 0) return fail(error);
  if (status < 200 || status > 299) return fail("status " + std::to_string(status));
  return 0;
}

}  // namespace rampart::admin
