#include "harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace it {

std::string rampart_bin() { return RAMPART_BIN; }
std::string upstream_bin() { return RAMPART_UPSTREAM_BIN; }
std::string source_dir() { return RAMPART_SOURCE_DIR; }
std::string bench_bin() {
  std::string up = upstream_bin();
  return up.substr(0, up.rfind('/') + 1) + "rampart-bench";
}

namespace {

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
  if (left < 0) return 0;
  if (left > 1000000) return 1000000;
  return static_cast<int>(left);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

// =============================================================================================
// Process

Process::Process(const std::string& bin, const std::vector<std::string>& args) {
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);

  std::vector<std::string> all;
  all.push_back(bin);
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);

  int rc = ::posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    pid_ = -1;
    reaped_ = true;
    FAIL("posix_spawn " << bin << ": " << std::strerror(rc));
  }
  reader_ = std::thread([this, o = out[0], e = err[0]] { reader_loop(o, e); });
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  if (reader_.joinable()) {
    {
      // The pipes close when the child dies; a grandchild holding them must not hang us.
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, 2s, [&] { return eof_; })) stop_ = true;
    }
    reader_.join();
  }
}

void Process::reader_loop(int out_fd, int err_fd) {
  std::array<int, 2> fds{out_fd, err_fd};
  std::array<char, 65536> chunk;
  while (fds[0] >= 0 || fds[1] >= 0) {
    if (stop_) break;
    pollfd p[2];
    nfds_t n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (fds[i] >= 0) {
        p[n] = {fds[i], POLLIN, 0};
        which[n++] = i;
      }
    }
    int r = ::poll(p, n, 100);
    if (r < 0 && errno != EINTR) break;
    for (nfds_t k = 0; k < n; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int i = which[k];
      ssize_t got = ::read(fds[i], chunk.data(), chunk.size());
      if (got < 0 && errno == EINTR) continue;
      std::lock_guard lock(mu_);
      if (got <= 0) {
        if (!partial_[i].empty()) {
          lines_.push_back((i == 0 ? "[out] " : "[err] ") + partial_[i]);
          plain_lines_.push_back(partial_[i]);
          partial_[i].clear();
        }
        ::close(fds[i]);
        fds[i] = -1;
      } else {
        std::string_view data(chunk.data(), static_cast<std::size_t>(got));
        (i == 0 ? raw_out_ : raw_err_).append(data);
        partial_[i].append(data);
        std::size_t pos;
        while ((pos = partial_[i].find('\n')) != std::string::npos) {
          std::string line = partial_[i].substr(0, pos);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          partial_[i].erase(0, pos + 1);
          lines_.push_back((i == 0 ? "[out] " : "[err] ") + line);
          plain_lines_.push_back(std::move(line));
        }
      }
      cv_.notify_all();
    }
  }
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
  std::lock_guard lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> Process::try_wait_for_line(const std::regex& re, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    for (; cursor_ < plain_lines_.size(); ++cursor_) {
      if (std::regex_search(plain_lines_[cursor_], re)) return plain_lines_[cursor_++];
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; cursor_ < plain_lines_.size(); ++cursor_) {
        if (std::regex_search(plain_lines_[cursor_], re)) return plain_lines_[cursor_++];
      }
      return std::nullopt;
    }
  }
}

std::string Process::wait_for_line(const std::regex& re, Ms timeout) {
  auto line = try_wait_for_line(re, timeout);
  if (!line) {
    bool eof;
    {
      std::lock_guard lock(mu_);
      eof = eof_;
    }
    FAIL((eof ? "process closed its output" : "timed out") << " waiting for a line; output:\n"
                                                            << output());
  }
  return *line;
}

std::size_t Process::cursor() const {
  std::lock_guard lock(mu_);
  return cursor_;
}

void Process::set_cursor(std::size_t index) {
  std::lock_guard lock(mu_);
  cursor_ = std::min(index, plain_lines_.size());
}

std::size_t Process::line_count() const {
  std::lock_guard lock(mu_);
  return plain_lines_.size();
}

void Process::signal(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

void Process::reap(bool block) {
  if (reaped_ || pid_ <= 0) return;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    reaped_ = true;
    if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) exit_code_ = 128 + WTERMSIG(status);
  } else if (r < 0) {
    reaped_ = true;  // not our child any more (should not happen)
  }
}

bool Process::running() {
  reap(false);
  return !reaped_;
}

std::optional<int> Process::try_wait_exit(Ms timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    reap(false);
    if (reaped_) return exit_code_;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  reap(true);
  return std::nullopt;
}

int Process::wait_exit(Ms timeout) {
  auto code = try_wait_exit(timeout);
  if (!code) FAIL("process did not exit within " << timeout.count() << " ms; output:\n" << output());
  return *code;
}

std::string Process::output() const {
  std::lock_guard lock(mu_);
  std::string all;
  for (auto& l : lines_) all += l + "\n";
  for (int i = 0; i < 2; ++i)
    if (!partial_[i].empty()) all += (i == 0 ? "[out] " : "[err] ") + partial_[i] + "\n";
  constexpr std::size_t max = 20000;
  if (all.size() > max) all = "...\n" + all.substr(all.size() - max);
  return all;
}

std::vector<std::string> Process::lines() const {
  std::lock_guard lock(mu_);
  return plain_lines_;
}

std::string Process::raw_stdout(bool until_eof, Ms timeout) const {
  std::unique_lock lock(mu_);
  if (until_eof) cv_.wait_for(lock, timeout, [&] { return eof_; });
  return raw_out_;
}

std::string Process::raw_stderr() const {
  std::lock_guard lock(mu_);
  return raw_err_;
}

// =============================================================================================
// Upstream

Upstream::Upstream(std::string name, std::uint16_t port) : name_(std::move(name)) {
  process_ = std::make_unique<Process>(
      upstream_bin(),
      std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port), "--name", name_});
  static const std::regex re(R"(^listening 127\.0\.0\.1:(\d+))");
  std::string line = process_->wait_for_line(re, 10s);
  std::smatch m;
  REQUIRE(std::regex_search(line, m, re));
  port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
  REQUIRE(port_ != 0);
  if (port != 0) REQUIRE(port_ == port);
}

// =============================================================================================
// TempDir, Proxy

TempDir::TempDir() {
  char tmpl[] = "/tmp/rampart-it-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  path_ = d;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string full = path_ + "/" + name;
  std::string tmp = full + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << content;
    REQUIRE(f.good());
  }
  REQUIRE(std::rename(tmp.c_str(), full.c_str()) == 0);
  return full;
}

std::string subst(std::string text, const std::map<std::string, std::string>& values) {
  for (auto& [k, v] : values) {
    std::string key = "{{" + k + "}}";
    std::size_t pos = 0;
    while ((pos = text.find(key, pos)) != std::string::npos) {
      text.replace(pos, key.size(), v);
      pos += v.size();
    }
  }
  return text;
}

Proxy::Proxy(const std::string& yaml, Ms timeout) {
  char tmpl[] = "/tmp/rampart-it-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  dir_ = d;
  config_path_ = dir_ + "/rampart.yaml";
  {
    std::ofstream f(config_path_, std::ios::binary | std::ios::trunc);
    f << yaml;
    REQUIRE(f.good());
  }
  start(timeout);
}

Proxy::Proxy(const ExistingConfig& config, Ms timeout) : owns_dir_(false), config_path_(config.path) {
  dir_ = config_path_.substr(0, config_path_.rfind('/'));
  start(timeout);
}

void Proxy::start(Ms timeout) {
  process_ = std::make_unique<Process>(rampart_bin(), std::vector<std::string>{"-c", config_path_});
  process_->wait_for_line(std::regex(R"(rampart: ready)"), timeout);
  static const std::regex listening(R"(rampart: listening name=(\S+) address=127\.0\.0\.1:(\d+))");
  static const std::regex admin(R"(rampart: admin listening address=127\.0\.0\.1:(\d+))");
  for (auto& line : process_->lines()) {
    std::smatch m;
    if (std::regex_search(line, m, listening))
      ports_[m[1].str()] = static_cast<std::uint16_t>(std::stoi(m[2].str()));
    else if (std::regex_search(line, m, admin))
      admin_port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
  }
  INFO(process_->output());
  REQUIRE(!ports_.empty());
}

Proxy::~Proxy() {
  process_.reset();
  if (!owns_dir_) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::uint16_t Proxy::admin_port() const {
  if (admin_port_ == 0) FAIL("rampart printed no admin listening line; output:\n" << process_->output());
  return admin_port_;
}

std::uint16_t Proxy::port(const std::string& listener) const {
  auto it = ports_.find(listener);
  if (it == ports_.end()) FAIL("no listener named " << listener << "; output:\n" << process_->output());
  return it->second;
}

ReloadResult Proxy::reload(const std::string& yaml, Ms timeout) {
  process_->set_cursor(process_->line_count());
  std::string tmp = config_path_ + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << yaml;
    REQUIRE(f.good());
  }
  REQUIRE(std::rename(tmp.c_str(), config_path_.c_str()) == 0);
  process_->signal(SIGHUP);
  static const std::regex outcome(R"(rampart: reload (ok generation=(\d+)|failed))");
  std::string line = process_->wait_for_line(outcome, timeout);
  std::smatch m;
  REQUIRE(std::regex_search(line, m, outcome));
  ReloadResult result;
  if (m[2].matched) {
    result.ok = true;
    result.generation = std::stoi(m[2].str());
    return result;
  }
  // Diagnostics follow the "reload failed" line; give them a moment to arrive.
  std::size_t first = process_->cursor();
  process_->try_wait_for_line(std::regex("error:"), 3s);
  sleep_for(200ms);
  auto all = process_->lines();
  for (std::size_t i = first; i < all.size(); ++i) result.diagnostics += all[i] + "\n";
  process_->set_cursor(all.size());
  return result;
}

// =============================================================================================
// Raw HTTP client

bool CaseLess::operator()(const std::string& a, const std::string& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
  });
}

std::optional<std::string> Response::header(const std::string& name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::size_t Response::header_count(const std::string& name) const { return headers.count(name); }

Conn::Conn(std::uint16_t port, Ms timeout, const std::string& source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      error_ = "bind " + source + ": " + std::strerror(errno);
      ::close(fd);
      return;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (r != 0 && errno != EINPROGRESS) {
    error_ = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return;
  }
  if (r != 0) {
    pollfd p{fd, POLLOUT, 0};
    int pr = ::poll(&p, 1, static_cast<int>(timeout.count()));
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (pr <= 0) {
      error_ = "connect: timeout";
      ::close(fd);
      return;
    }
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) {
      error_ = std::string("connect: ") + std::strerror(soerr);
      ::close(fd);
      return;
    }
  }
  fd_ = fd;
}

Conn::~Conn() { close(); }

Conn::Conn(Conn&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buf_(std::move(other.buf_)),
      error_(std::move(other.error_)),
      eof_(other.eof_) {}

Conn& Conn::operator=(Conn&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buf_ = std::move(other.buf_);
    error_ = std::move(other.error_);
    eof_ = other.eof_;
  }
  return *this;
}

void Conn::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Conn::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool Conn::send(std::string_view bytes, Ms timeout) {
  if (fd_ < 0) {
    error_ = "send: not connected";
    return false;
  }
  auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      int left = remaining_ms(deadline);
      if (left == 0 || ::poll(&p, 1, left) <= 0) {
        error_ = "send: timeout";
        return false;
      }
      continue;
    }
    error_ = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

int Conn::fill(Clock::time_point deadline) {
  if (fd_ < 0) {
    error_ = "read: not connected";
    return -1;
  }
  if (eof_) return 0;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, remaining_ms(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      error_ = "read: timeout";
      return -1;
    }
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buf_.append(chunk, static_cast<std::size_t>(n));
      return 1;
    }
    if (n == 0) {
      eof_ = true;
      error_ = "read: peer closed";
      return 0;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    if (errno == ECONNRESET) {
      eof_ = true;
      error_ = "read: connection reset";
      return 0;
    }
    error_ = std::string("read: ") + std::strerror(errno);
    return -1;
  }
}

bool Conn::read_line(std::string& line, Clock::time_point deadline, std::size_t max) {
  for (;;) {
    auto pos = buf_.find('\n');
    if (pos != std::string::npos) {
      line = buf_.substr(0, pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      buf_.erase(0, pos + 1);
      return true;
    }
    if (buf_.size() > max) {
      error_ = "line too long";
      return false;
    }
    if (fill(deadline) <= 0) return false;
  }
}

std::optional<std::string> Conn::read_exact(std::size_t n, Ms timeout) {
  auto deadline = Clock::now() + timeout;
  while (buf_.size() < n) {
    if (fill(deadline) <= 0) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

Response Conn::read_response(Ms timeout, ReadOptions opts) {
  auto deadline = Clock::now() + timeout;
  std::vector<Response> interim;
  for (;;) {
    Response r;
    auto fail = [&](std::string why) {
      r.ok = false;
      r.error = std::move(why) + (error_.empty() ? "" : " (" + error_ + ")");
      r.interim = std::move(interim);
      return r;
    };
    std::string line;
    if (!read_line(line, deadline, 1 << 20)) return fail("no status line");
    r.raw_head = line + "\n";
    static const std::regex status_re(R"(^(HTTP/\d\.\d) (\d{3})(?: (.*))?$)");
    std::smatch m;
    if (!std::regex_match(line, m, status_re)) return fail("bad status line: " + line.substr(0, 200));
    r.version = m[1].str();
    r.status = std::stoi(m[2].str());
    r.reason = m[3].matched ? m[3].str() : "";
    for (;;) {
      if (!read_line(line, deadline, 1 << 20)) return fail("headers incomplete");
      r.raw_head += line + "\n";
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string::npos || colon == 0) return fail("bad header line: " + line.substr(0, 200));
      r.headers.emplace(line.substr(0, colon), trim(std::string_view(line).substr(colon + 1)));
    }
    if (r.status >= 100 && r.status < 200) {
      if (r.status == 101 || opts.return_interim) {
        r.ok = true;
        r.interim = std::move(interim);
        return r;
      }
      interim.push_back(std::move(r));
      continue;
    }
    r.interim = std::move(interim);
    if (opts.head || r.status == 204 || r.status == 304) {
      r.ok = true;
      return r;
    }
    auto te = r.header("transfer-encoding");
    if (te && lower(*te).find("chunked") != std::string::npos) {
      r.chunked = true;
      for (;;) {
        if (!read_line(line, deadline, 4096)) return fail("chunk size line");
        auto semi = line.find(';');
        std::string hex = trim(line.substr(0, semi));
        if (hex.empty() || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          return fail("bad chunk size: " + line.substr(0, 100));
        std::size_t size = std::stoull(hex, nullptr, 16);
        if (size == 0) break;
        if (r.body.size() + size > opts.max_body) return fail("body too large");
        auto data = read_exact(size, std::chrono::duration_cast<Ms>(deadline - Clock::now()));
        if (!data) return fail("chunk data");
        r.body += *data;
        if (!read_line(line, deadline, 16) || !line.empty()) return fail("chunk CRLF");
      }
      for (;;) {  // trailers
        if (!read_line(line, deadline, 1 << 16)) return fail("trailers");
        if (line.empty()) break;
      }
      r.ok = true;
      return r;
    }
    auto cl = r.header("content-length");
    if (cl) {
      if (r.header_count("content-length") != 1 || cl->empty() ||
          cl->find_first_not_of("0123456789") != std::string::npos)
        return fail("bad content-length: " + *cl);
      std::size_t n = std::stoull(*cl);
      if (n > opts.max_body) return fail("body too large");
      auto data = read_exact(n, std::chrono::duration_cast<Ms>(deadline - Clock::now()));
      if (!data) return fail("body incomplete");
      r.body = std::move(*data);
      r.ok = true;
      return r;
    }
    // Delimited by close.
    for (;;) {
      int f = fill(deadline);
      if (f == 0) break;
      if (f < 0) return fail("body until close");
      if (buf_.size() > opts.max_body) return fail("body too large");
    }
    r.body = std::move(buf_);
    buf_.clear();
    r.ok = true;
    return r;
  }
}

std::string Conn::read_until_close(Ms timeout, bool* closed) {
  auto deadline = Clock::now() + timeout;
  int f;
  while ((f = fill(deadline)) > 0) {
  }
  if (closed) *closed = (f == 0);
  std::string out = std::move(buf_);
  buf_.clear();
  return out;
}

bool Conn::is_closed(Ms timeout) {
  auto deadline = Clock::now() + timeout;
  int f;
  while ((f = fill(deadline)) > 0) {
  }
  return f == 0;
}

std::string request(const std::string& method, const std::string& target, const std::string& extra,
                    const std::string& body, const std::string& host) {
  std::string r = method + " " + target + " HTTP/1.1\r\n";
  if (!host.empty()) r += "Host: " + host + "\r\n";
  r += extra;
  std::string lx = lower(extra);
  if (!body.empty() && lx.find("content-length:") == std::string::npos &&
      lx.find("transfer-encoding:") == std::string::npos)
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

Response fetch(std::uint16_t port, const std::string& raw_request, Ms timeout, ReadOptions opts) {
  Conn c(port, timeout);
  if (!c.ok()) {
    Response r;
    r.error = c.error();
    return r;
  }
  if (!c.send(raw_request, timeout)) {
    Response r;
    r.error = c.error();
    return r;
  }
  return c.read_response(timeout, opts);
}

// =============================================================================================
// /echo decoding: a small JSON reader (objects, arrays, strings, numbers, literals).

namespace {

struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  std::string text;  // string value, or the literal text of a number/boolean
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}
  bool parse(Json& out) {
    if (!value(out, 0)) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool string(std::string& out) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          unsigned cp = static_cast<unsigned>(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
          i_ += 4;
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: out += e; break;
      }
    }
    return false;
  }
  bool value(Json& out, int depth) {
    if (depth > 32) return false;
    ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{') {
      out.kind = Json::Kind::object;
      ++i_;
      ws();
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return true;
      }
      for (;;) {
        ws();
        std::string key;
        if (!string(key)) return false;
        ws();
        if (i_ >= s_.size() || s_[i_] != ':') return false;
        ++i_;
        Json v;
        if (!value(v, depth + 1)) return false;
        out.members.emplace_back(std::move(key), std::move(v));
        ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') {
          ++i_;
          return true;
        }
        return false;
      }
    }
    if (c == '[') {
      out.kind = Json::Kind::array;
      ++i_;
      ws();
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return true;
      }
      for (;;) {
        Json v;
        if (!value(v, depth + 1)) return false;
        out.items.push_back(std::move(v));
        ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') {
          ++i_;
          return true;
        }
        return false;
      }
    }
    if (c == '"') {
      out.kind = Json::Kind::string;
      return string(out.text);
    }
    std::size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '+' || s_[i_] == '.'))
      ++i_;
    out.text = std::string(s_.substr(start, i_ - start));
    if (out.text.empty()) return false;
    if (out.text == "true" || out.text == "false") out.kind = Json::Kind::boolean;
    else if (out.text == "null") out.kind = Json::Kind::null;
    else out.kind = Json::Kind::number;
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

void collect_headers(const Json& j, Headers& out) {
  if (j.kind == Json::Kind::object) {
    for (auto& [k, v] : j.members) {
      if (v.kind == Json::Kind::array) {
        for (auto& item : v.items) out.emplace(k, item.text);
      } else {
        out.emplace(k, v.text);
      }
    }
  } else if (j.kind == Json::Kind::array) {
    for (auto& item : j.items) {
      if (item.kind == Json::Kind::array && item.items.size() == 2) {
        out.emplace(item.items[0].text, item.items[1].text);
      } else if (item.kind == Json::Kind::object) {
        std::string name, value;
        for (auto& [k, v] : item.members) {
          if (k == "name") name = v.text;
          if (k == "value") value = v.text;
        }
        out.emplace(name, value);
      } else if (item.kind == Json::Kind::string) {
        auto colon = item.text.find(':');
        if (colon != std::string::npos)
          out.emplace(item.text.substr(0, colon), trim(std::string_view(item.text).substr(colon + 1)));
      }
    }
  }
}

}  // namespace

Echo parse_echo(const std::string& body) {
  Echo e;
  Json root;
  JsonReader reader(body);
  if (!reader.parse(root) || root.kind != Json::Kind::object) {
    e.error = "echo body is not a JSON object: " + body.substr(0, 300);
    return e;
  }
  for (auto& [k, v] : root.members) {
    if (k == "headers") {
      collect_headers(v, e.headers);
      continue;
    }
    if (v.kind == Json::Kind::object || v.kind == Json::Kind::array) continue;
    e.fields[k] = v.text;
  }
  auto field = [&](std::initializer_list<const char*> names) -> std::string {
    for (auto* n : names) {
      auto it = e.fields.find(n);
      if (it != e.fields.end()) return it->second;
    }
    return {};
  };
  e.method = field({"method"});
  e.path = field({"target", "path", "uri", "url"});
  e.upstream = field({"upstream", "name", "server"});
  std::string bytes = field({"body_bytes", "body_size", "body_length"});
  if (!bytes.empty()) e.body_bytes = std::stoull(bytes);
  e.crc32 = lower(field({"body_crc32", "crc32"}));
  if (!e.crc32.empty() && e.crc32.find_first_not_of("0123456789abcdef") == std::string::npos &&
      e.crc32.size() < 8)
    e.crc32.insert(0, 8 - e.crc32.size(), '0');
  e.ok = !e.method.empty();
  if (!e.ok) e.error = "echo body has no method: " + body.substr(0, 300);
  return e;
}

// =============================================================================================
// CRC-32

std::uint32_t crc32_update(std::uint32_t crc, std::string_view data) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (unsigned char b : data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::string crc32_hex(std::string_view data) {
  char out[9];
  std::snprintf(out, sizeof out, "%08x", crc32_update(0, data));
  return out;
}

// =============================================================================================
// curl, /proc

CurlResult curl(const std::vector<std::string>& args, int max_time_seconds) {
  std::vector<std::string> all{"-sS", "--max-time", std::to_string(max_time_seconds)};
  all.insert(all.end(), args.begin(), args.end());
  Process p("/usr/bin/curl", all);
  CurlResult r;
  auto code = p.try_wait_exit(std::chrono::seconds(max_time_seconds + 5));
  r.exit_code = code ? *code : -1;
  r.out = p.raw_stdout(true, 5s);
  r.err = p.raw_stderr();
  return r;
}

long rss_kib(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream in(line.substr(field.size() + 1));
      long kib = -1;
      in >> kib;
      return kib;
    }
  }
  return -1;
}

}  // namespace it
