// Black-box test harness: runs the real `rampart` and `rampart-upstream` binaries on port 0 and
// talks to them over plain POSIX sockets (no Boost, so the suite compiles quickly).
//
// Contracts shared by everything here:
// - Every blocking call takes a timeout and returns (or fails the test) when it runs out.
// - Process, Upstream, Proxy, TempDir and curl() may only be used from the Catch2 test thread:
//   they report failures with REQUIRE/FAIL. Conn, request(), fetch(), parse_echo() and the CRC
//   helpers never touch Catch2, so worker threads may use them; they report errors as values.
// - Only 127.0.0.1 is ever contacted; only children started here are ever signalled.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace it {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

// Paths compiled in by tests/CMakeLists.txt.
std::string rampart_bin();
std::string upstream_bin();
std::string source_dir();
// rampart-bench, built next to rampart-upstream (bench/ in the build tree).
std::string bench_bin();

// ---------------------------------------------------------------------------------------------
// Child process with captured stdout/stderr.

class Process {
 public:
  // Starts `bin args...` with posix_spawn. stdout and stderr are read by a background thread;
  // complete lines from both are kept in arrival order, and the raw stdout bytes separately.
  // Fails the test if the spawn fails.
  Process(const std::string& bin, const std::vector<std::string>& args);
  // Kills (SIGKILL) and reaps the child if it is still running; joins the reader thread.
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Waits for the next line (after the last line returned by a previous wait_for_line) that
  // matches `re` anywhere (regex_search). Returns the line. Fails the test, showing the captured
  // output, if the process closes its output or the timeout runs out first.
  std::string wait_for_line(const std::regex& re, Ms timeout);
  // Like wait_for_line but returns nullopt instead of failing.
  std::optional<std::string> try_wait_for_line(const std::regex& re, Ms timeout);
  // Index of the next line wait_for_line will look at; set_cursor() moves it (e.g. to the end).
  std::size_t cursor() const;
  void set_cursor(std::size_t index);
  std::size_t line_count() const;

  // Sends a signal to this child only (no-op if it has already been reaped).
  void signal(int sig);
  // Waits for the child to exit and returns its exit code (128+signal if killed by a signal).
  // On timeout kills it with SIGKILL and fails the test.
  int wait_exit(Ms timeout);
  // Like wait_exit but returns nullopt (after killing the child) instead of failing.
  std::optional<int> try_wait_exit(Ms timeout);
  // True while the child has not exited (reaps it if it has).
  bool running();

  // Every captured line so far ("[out] ..." / "[err] ..."), for failure messages.
  std::string output() const;
  std::vector<std::string> lines() const;  // without the stream tag
  // Raw stdout bytes so far; waits until the pipes are closed when `until_eof`.
  std::string raw_stdout(bool until_eof = false, Ms timeout = 5s) const;
  std::string raw_stderr() const;

 private:
  void reader_loop(int out_fd, int err_fd);
  void reap(bool block);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::string> lines_;        // tagged
  std::vector<std::string> plain_lines_;  // untagged
  std::string partial_[2];
  std::string raw_out_, raw_err_;
  bool eof_ = false;
  std::atomic<bool> stop_{false};
  std::size_t cursor_ = 0;
};

// ---------------------------------------------------------------------------------------------
// rampart-upstream on an ephemeral port.

class Upstream {
 public:
  // Starts `rampart-upstream --listen 127.0.0.1:PORT --name NAME` (PORT 0: any free port) and
  // waits for its `listening 127.0.0.1:PORT` line.
  explicit Upstream(std::string name, std::uint16_t port = 0);
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& name() const { return name_; }
  Process& process() { return *process_; }

 private:
  std::string name_;
  std::unique_ptr<Process> process_;
  std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------------
// rampart with a config written to a fresh temporary directory.

struct ReloadResult {
  bool ok = false;
  int generation = 0;
  std::string diagnostics;  // the lines printed after "reload failed"
};

// A config file that already exists (Proxy does not write it, nor remove its directory).
struct ExistingConfig {
  std::string path;
};

class Proxy {
 public:
  // Writes `yaml` to DIR/rampart.yaml (DIR from mkdtemp), runs `rampart -c FILE` and waits
  // (up to `timeout`) for `rampart: ready`, collecting every `rampart: listening` line and the
  // `rampart: admin listening` line.
  explicit Proxy(const std::string& yaml, Ms timeout = 10s);
  // Runs `rampart -c config.path` on a file the caller owns (dir() is its directory).
  explicit Proxy(const ExistingConfig& config, Ms timeout = 10s);
  // Kills the process and removes the temporary directory (if Proxy created it).
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Port of the named listener (fails the test if there is none).
  std::uint16_t port(const std::string& listener = "http") const;
  // Port of the admin listener (fails the test if rampart printed no `admin listening` line).
  std::uint16_t admin_port() const;
  const std::string& config_path() const { return config_path_; }
  const std::string& dir() const { return dir_; }
  Process& process() { return *process_; }

  // Rewrites the config file, sends SIGHUP and waits for the outcome line.
  ReloadResult reload(const std::string& yaml, Ms timeout = 10s);

 private:
  void start(Ms timeout);

  std::string dir_;
  bool owns_dir_ = true;
  std::string config_path_;
  std::unique_ptr<Process> process_;
  std::map<std::string, std::uint16_t> ports_;
  std::uint16_t admin_port_ = 0;
};

// A fresh temporary directory (mkdtemp under /tmp) removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Replaces every `{{KEY}}` in `text` with its value.
std::string subst(std::string text, const std::map<std::string, std::string>& values);

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 client.

struct CaseLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::multimap<std::string, std::string, CaseLess>;

struct Response {
  bool ok = false;         // false: `error` says why (timeout, close, parse error)
  std::string error;
  int status = 0;
  std::string version;     // "HTTP/1.1"
  std::string reason;
  Headers headers;
  std::string body;        // decoded (de-chunked)
  bool chunked = false;    // the response used Transfer-Encoding: chunked
  std::string raw_head;    // status line + headers as received
  std::vector<Response> interim;  // skipped 1xx responses, in order

  std::optional<std::string> header(const std::string& name) const;  // first value
  std::size_t header_count(const std::string& name) const;
};

struct ReadOptions {
  bool head = false;            // response to HEAD: no body whatever the headers say
  bool return_interim = false;  // return a 1xx response instead of skipping it
  std::size_t max_body = 64u << 20;  // larger bodies are an error
};

class Conn {
 public:
  Conn() = default;
  // Connects to 127.0.0.1:port with TCP_NODELAY; `ok()` says whether it worked. A non-empty
  // `source` binds the local end first (another loopback address such as "127.0.0.2").
  explicit Conn(std::uint16_t port, Ms timeout = 2s, const std::string& source = "");
  ~Conn();
  Conn(Conn&& other) noexcept;
  Conn& operator=(Conn&& other) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }
  int fd() const { return fd_; }

  // Sends all of `bytes` (MSG_NOSIGNAL). False on error or timeout.
  bool send(std::string_view bytes, Ms timeout = 5s);
  // Reads one response. Bytes after it stay buffered for the next call.
  Response read_response(Ms timeout = 5s, ReadOptions opts = {});
  // Reads until the peer closes (or resets) or the timeout runs out. Returns everything read,
  // including bytes buffered by earlier calls. `closed` says whether the peer closed.
  std::string read_until_close(Ms timeout, bool* closed = nullptr);
  // Waits up to `timeout` for the peer to close (read returns 0 or ECONNRESET). Data that
  // arrives meanwhile is buffered. True if it closed.
  bool is_closed(Ms timeout);
  // Reads exactly n bytes (buffered first). nullopt on close/timeout.
  std::optional<std::string> read_exact(std::size_t n, Ms timeout);
  // Whatever is buffered and not yet consumed.
  const std::string& buffered() const { return buf_; }
  void shutdown_write();
  void close();

 private:
  // Reads more bytes into buf_ until `deadline`. 1: got data, 0: peer closed, -1: error/timeout.
  int fill(Clock::time_point deadline);
  bool read_line(std::string& line, Clock::time_point deadline, std::size_t max = 1 << 20);

  int fd_ = -1;
  std::string buf_;
  std::string error_;
  bool eof_ = false;
};

// Builds "METHOD TARGET HTTP/1.1\r\nHost: HOST\r\n<extra>\r\n<body>"; `extra` holds complete
// header lines ("Name: value\r\n"); a Content-Length is added when the body is non-empty and
// `extra` sets neither Content-Length nor Transfer-Encoding.
std::string request(const std::string& method, const std::string& target,
                    const std::string& extra = "", const std::string& body = "",
                    const std::string& host = "test.local");

// One request on a fresh connection; returns the response (ok=false with the reason on error).
Response fetch(std::uint16_t port, const std::string& raw_request, Ms timeout = 5s,
               ReadOptions opts = {});

// ---------------------------------------------------------------------------------------------
// /echo of rampart-upstream, decoded.

struct Echo {
  bool ok = false;
  std::string error;
  std::string method;
  std::string path;     // request target as received (path + query)
  std::string upstream;  // --name of the upstream
  Headers headers;
  std::uint64_t body_bytes = 0;
  std::string crc32;    // as printed (8 hex digits)
  std::map<std::string, std::string> fields;  // every scalar field as text
};
Echo parse_echo(const std::string& body);

// CRC-32 (IEEE) of `data`, as 8 lower-case hex digits.
std::string crc32_hex(std::string_view data);
// Continues a CRC-32 over more data (start with 0).
std::uint32_t crc32_update(std::uint32_t crc, std::string_view data);

// ---------------------------------------------------------------------------------------------
// System curl and /proc.

struct CurlResult {
  int exit_code = -1;
  std::string out;   // stdout
  std::string err;   // stderr
};
// Runs /usr/bin/curl -sS --max-time SECONDS args...; the process is killed after SECONDS + 5
// (exit_code -1 then). Test thread only.
CurlResult curl(const std::vector<std::string>& args, int max_time_seconds = 20);

// Resident set size of `pid` in KiB: `field` is "VmHWM" (peak) or "VmRSS". -1 on error.
long rss_kib(pid_t pid, const std::string& field = "VmHWM");

// Sleeps for `d`.
inline void sleep_for(Ms d) { std::this_thread::sleep_for(d); }

}  // namespace it
