// The access log's rings and writer thread: files, FIFOs, stdout/stderr, drops, reopen, flush on
// destruction and many workers logging at once.
#include "access_log_json_check.hpp"
#include "observe/access_log.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace rampart::observe;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rampart-alog-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

rampart::config::AccessLogSpec spec_for(const std::string& path, std::uint64_t buffer = 1024 * 1024) {
  rampart::config::AccessLogSpec spec;
  spec.enabled = true;
  spec.path = path;
  spec.buffer_size = buffer;
  return spec;
}

// A record whose request_id is `id` and whose user agent is padded to about `pad` bytes.
struct Line {
  std::string id;
  std::string agent;
  AccessRecord rec;
  Line(std::string request_id, std::size_t pad = 40) : id(std::move(request_id)), agent(pad, 'a') {
    agent[0] = '"';  // something to escape
    rec.ts = std::chrono::system_clock::now();
    rec.request_id = id;
    rec.method = "GET";
    rec.path = "/p";
    rec.status = 200;
    rec.user_agent = agent;
  }
};

// Parses every line strictly; returns the request ids in file order.
std::vector<std::string> ids_of(const std::string& text) {
  const auto lines = test::split_lines(text);
  REQUIRE(lines);
  std::vector<std::string> ids;
  for (const auto& l : *lines) {
    const auto doc = test::parse_json(l);
    INFO(l);
    REQUIRE(doc);
    REQUIRE(doc->get("request_id"));
    ids.push_back(doc->get("request_id")->text);
  }
  return ids;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// Reads whatever the non-blocking fd has within `limit` until `lines` newlines were seen.
std::string read_lines(int fd, std::size_t lines, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::string out;
  std::size_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[65536];
  while (seen < lines && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) continue;
    out.append(buf, static_cast<std::size_t>(n));
    seen += static_cast<std::size_t>(std::count(buf, buf + n, '\n'));
  }
  return out;
}

const FieldSet& fields() {
  static const FieldSet set = FieldSet::from(rampart::config::AccessLogSpec{});
  return set;
}

}  // namespace

TEST_CASE("lines reach the file in order and the destructor flushes them", "[access_log][sink]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  std::string error;
  {
    auto log = AccessLog::open(spec_for(file.string()), 1, error);
    REQUIRE(log);
    CHECK(log->path() == file.string());
    for (int i = 0; i < 100; ++i) REQUIRE(log->shard(0).log(Line("r" + std::to_string(i)).rec, fields()));
  }
  const auto ids = ids_of(slurp(file));
  REQUIRE(ids.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(ids[static_cast<std::size_t>(i)] == "r" + std::to_string(i));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == (0644 & ~[] { mode_t m = ::umask(0); ::umask(m); return m; }()));
}

TEST_CASE("an existing file is appended to", "[access_log][sink]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  { std::ofstream(file) << "{\"old\":1}\n"; }
  std::string error;
  {
    auto log = AccessLog::open(spec_for(file.string()), 1, error);
    REQUIRE(log);
    REQUIRE(log->shard(0).log(Line("new").rec, fields()));
  }
  const std::string text = slurp(file);
  CHECK(text.rfind("{\"old\":1}\n{\"ts\":", 0) == 0);
}

TEST_CASE("the writer thread flushes without waiting for the destructor", "[access_log][sink]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  std::string error;
  auto log = AccessLog::open(spec_for(file.string()), 2, error);
  REQUIRE(log);
  for (int i = 0; i < 10; ++i) REQUIRE(log->shard(static_cast<unsigned>(i % 2)).log(Line("x").rec, fields()));
  CHECK(eventually([&] { return log->written() == 10; }));
  CHECK(ids_of(slurp(file)).size() == 10);
  CHECK(log->dropped() == 0);
}

TEST_CASE("an unopenable path is an error", "[access_log][sink]") {
  std::string error;
  auto log = AccessLog::open(spec_for("/nonexistent-rampart-dir/x/access.log"), 1, error);
  CHECK_FALSE(log);
  CHECK(error.find("/nonexistent-rampart-dir/x/access.log") != std::string::npos);
}

TEST_CASE("the ring wraps around many times without losing or tearing lines", "[access_log][sink]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  std::string error;
  std::vector<std::string> accepted;
  std::uint64_t refused = 0;
  {
    auto log = AccessLog::open(spec_for(file.string(), 3001), 1, error);  // not a power of two
    REQUIRE(log);
    for (int i = 0; i < 1500; ++i) {  // ~700 KB through 3 KB: hundreds of wraps
      Line line("w" + std::to_string(i), static_cast<std::size_t>(20 + (i * 37) % 150));
      while (!log->shard(0).log(line.rec, fields())) {
        ++refused;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      accepted.push_back(line.id);
    }
    CHECK(log->dropped() == refused);
  }
  CHECK(ids_of(slurp(file)) == accepted);
}

TEST_CASE("a line larger than the buffer is dropped and counted", "[access_log][sink]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  std::string error;
  {
    auto log = AccessLog::open(spec_for(file.string(), 512), 1, error);
    REQUIRE(log);
    CHECK_FALSE(log->shard(0).log(Line("big", 2000).rec, fields()));
    CHECK(log->dropped() == 1);
    CHECK(log->shard(0).log(Line("small").rec, fields()));
  }
  CHECK(ids_of(slurp(file)) == std::vector<std::string>{"small"});
}

TEST_CASE("a stalled sink drops and counts new lines but keeps accepted ones", "[access_log][sink]") {
  TempDir dir;
  const auto fifo = dir.path / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  std::string error;
  auto log = AccessLog::open(spec_for(fifo.string(), 8192), 1, error);
  REQUIRE(log);

  std::vector<std::string> accepted;
  std::uint64_t refused = 0;
  const int total = 4000;  // ~1 MB: far beyond the pipe (64 KiB) and the ring (8 KiB)
  for (int i = 0; i < total; ++i) {
    Line line("s" + std::to_string(i), 200);
    if (log->shard(0).log(line.rec, fields())) {
      accepted.push_back(line.id);
    } else {
      ++refused;
    }
    if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(refused > 0);
  CHECK(log->dropped() == refused);
  CHECK(accepted.size() + refused == static_cast<std::size_t>(total));

  // The reader wakes up: everything accepted arrives, complete and in order.
  const std::string text = read_lines(reader, accepted.size());
  CHECK(ids_of(text) == accepted);
  CHECK(eventually([&] { return log->written() == accepted.size(); }));
  CHECK(log->dropped() == refused);
  log.reset();
  ::close(reader);
}

TEST_CASE("a hard write error discards and counts buffered lines", "[access_log][sink]") {
  TempDir dir;
  const auto fifo = dir.path / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  std::string error;
  auto log = AccessLog::open(spec_for(fifo.string()), 1, error);
  REQUIRE(log);
  REQUIRE(log->shard(0).log(Line("before").rec, fields()));
  CHECK(ids_of(read_lines(reader, 1)) == std::vector<std::string>{"before"});
  CHECK(eventually([&] { return log->written() == 1; }));

  ::close(reader);  // writes now fail with EPIPE; SIGPIPE must not kill the process
  for (int i = 0; i < 5; ++i) REQUIRE(log->shard(0).log(Line("lost").rec, fields()));
  CHECK(eventually([&] { return log->dropped() == 5; }));
  CHECK(log->written() == 1);
}

TEST_CASE("reopen moves new lines to a new file after a rename", "[access_log][sink]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  const auto rotated = dir.path / "access.log.1";
  std::string error;
  {
    auto log = AccessLog::open(spec_for(file.string()), 2, error);
    REQUIRE(log);
    for (int i = 0; i < 5; ++i) REQUIRE(log->shard(static_cast<unsigned>(i % 2)).log(Line("old" + std::to_string(i)).rec, fields()));
    fs::rename(file, rotated);
    REQUIRE(log->reopen(error));
    CHECK(fs::exists(file));
    for (int i = 0; i < 7; ++i) REQUIRE(log->shard(static_cast<unsigned>(i % 2)).log(Line("new" + std::to_string(i)).rec, fields()));
    CHECK(eventually([&] { return log->written() == 12; }));
  }
  auto old_ids = ids_of(slurp(rotated));
  auto new_ids = ids_of(slurp(file));
  std::sort(old_ids.begin(), old_ids.end());
  std::sort(new_ids.begin(), new_ids.end());
  CHECK(old_ids == std::vector<std::string>{"old0", "old1", "old2", "old3", "old4"});
  CHECK(new_ids == std::vector<std::string>{"new0", "new1", "new2", "new3", "new4", "new5", "new6"});
}

TEST_CASE("a failed reopen keeps writing to the old file", "[access_log][sink]") {
  TempDir dir;
  const auto sub = dir.path / "logs";
  fs::create_directory(sub);
  std::string error;
  {
    auto log = AccessLog::open(spec_for((sub / "access.log").string()), 1, error);
    REQUIRE(log);
    REQUIRE(log->shard(0).log(Line("a").rec, fields()));
    fs::rename(sub, dir.path / "moved");  // the configured path no longer resolves
    CHECK_FALSE(log->reopen(error));
    CHECK(error.find("access.log") != std::string::npos);
    REQUIRE(log->shard(0).log(Line("b").rec, fields()));
  }
  CHECK(ids_of(slurp(dir.path / "moved" / "access.log")) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("reopen on stdout is a no-op", "[access_log][sink]") {
  std::string error;
  auto log = AccessLog::open(spec_for("stdout"), 1, error);
  REQUIRE(log);
  CHECK(log->reopen(error));
  CHECK(log->path() == "stdout");
}

TEST_CASE("stderr and stdout sinks write to what the descriptors were at open", "[access_log][sink]") {
  TempDir dir;
  std::string error;

  SECTION("stderr redirected to a file") {
    const auto file = dir.path / "err.log";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const int saved = ::dup(2);
    ::dup2(fd, 2);
    auto log = AccessLog::open(spec_for("stderr"), 1, error);
    ::dup2(saved, 2);
    ::close(saved);
    ::close(fd);
    REQUIRE(log);
    REQUIRE(log->shard(0).log(Line("to-stderr").rec, fields()));
    log.reset();
    CHECK(ids_of(slurp(file)) == std::vector<std::string>{"to-stderr"});
  }

  SECTION("stdout redirected to a pipe") {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    std::fflush(stdout);
    const int saved = ::dup(1);
    ::dup2(p[1], 1);
    auto log = AccessLog::open(spec_for("stdout"), 1, error);
    ::dup2(saved, 1);
    ::close(saved);
    ::close(p[1]);
    REQUIRE(log);
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    REQUIRE(log->shard(0).log(Line("to-stdout").rec, fields()));
    CHECK(ids_of(read_lines(p[0], 1)) == std::vector<std::string>{"to-stdout"});
    // The process's stdout keeps its own (blocking) file status flags.
    CHECK((::fcntl(1, F_GETFL) & O_NONBLOCK) == 0);
    log.reset();
    ::close(p[0]);
  }
}

TEST_CASE("many workers log concurrently while the writer runs", "[access_log][sink][threads]") {
  TempDir dir;
  const auto file = dir.path / "access.log";
  constexpr unsigned kWorkers = 4;
  constexpr int kPerWorker = 4000;
  std::string error;
  std::atomic<std::uint64_t> refused{0};
  std::vector<std::vector<std::string>> accepted(kWorkers);
  {
    auto log = AccessLog::open(spec_for(file.string(), 16 * 1024), kWorkers, error);
    REQUIRE(log);
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < kWorkers; ++w) {
      threads.emplace_back([&, w] {
        AccessLogShard& shard = log->shard(w);
        for (int i = 0; i < kPerWorker; ++i) {
          Line line("t" + std::to_string(w) + "-" + std::to_string(i), static_cast<std::size_t>(10 + i % 90));
          if (shard.log(line.rec, fields())) {
            accepted[w].push_back(line.id);
          } else {
            refused.fetch_add(1);
            if (i % 8 == 0) std::this_thread::yield();
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(log->dropped() == refused.load());
  }
  // Every accepted line is present exactly once, each worker's lines in its own order.
  const auto ids = ids_of(slurp(file));
  std::vector<std::vector<std::string>> seen(kWorkers);
  for (const auto& id : ids) {
    const auto dash = id.find('-');
    REQUIRE(dash != std::string::npos);
    seen[std::stoul(id.substr(1, dash - 1))].push_back(id);
  }
  std::size_t total = 0;
  for (unsigned w = 0; w < kWorkers; ++w) {
    CHECK(seen[w] == accepted[w]);
    total += accepted[w].size();
  }
  CHECK(total + refused.load() == kWorkers * kPerWorker);
  CHECK(total > 0);
}
