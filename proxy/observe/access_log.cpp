// The access log's buffers and writer thread.
//
// Each worker owns one Ring: a bounded byte ring with a single producer (the worker, through
// AccessLogShard::log) and a single consumer (whoever holds Impl::mu: the writer thread, or
// reopen() draining into the old file before it swaps). Positions are monotonically increasing
// byte counts; the producer publishes whole lines with a release store of `head`, the consumer
// frees space with a release store of `tail`. The writer wakes on an eventfd (signalled by a
// worker whose ring crosses half full) or every 50 ms, gathers every ring into one writev, and
// advances each tail by what the sink accepted. What the sink refuses (EAGAIN, disk full) stays
// in the rings; workers then drop new lines and count them. Only a hard write error (EPIPE, EIO,
// EBADF...) discards accepted bytes, and those lines are counted as dropped too.
#include "observe/access_log.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace rampart::observe {
namespace {

constexpr std::size_t kScratchReserve = 4096;       // a typical line fits without growing
constexpr std::size_t kScratchKeep = 64 * 1024;     // a scratch grown beyond this is released
constexpr int kTickMs = 50;                         // the writer's idle wake-up period
constexpr auto kFinalDrain = std::chrono::seconds(5);  // destructor: how long a stalled sink may hold us
constexpr int kMaxRounds = 64;                      // writev rounds per drain before letting others in
constexpr std::size_t kMaxIov = std::min<std::size_t>(IOV_MAX, 1024);

std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns the message (possibly not in buf).
  return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace

struct AccessLogShard::Ring {
  explicit Ring(std::size_t cap, int wake) : capacity(cap), data(new char[cap == 0 ? 1 : cap]), wake_fd(wake) {
    scratch.reserve(kScratchReserve);
  }

  const std::size_t capacity;
  const std::unique_ptr<char[]> data;
  const int wake_fd;  // eventfd owned by AccessLog::Impl

  // Producer side (the worker). `dropped` is written by the producer only, read by anyone.
  alignas(64) std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint64_t> dropped{0};
  std::string scratch;

  // Consumer side (the holder of Impl::mu).
  alignas(64) std::atomic<std::uint64_t> tail{0};

  // Number of '\n' bytes in [from, from + len) of the ring. Consumer only.
  std::uint64_t count_lines(std::uint64_t from, std::size_t len) const {
    if (len == 0) return 0;
    const std::size_t pos = static_cast<std::size_t>(from % capacity);
    const std::size_t first = std::min(len, capacity - pos);
    // memchr (vectorized in libc): lines are long, newlines few.
    const auto count = [](const char* b, const char* e) {
      std::uint64_t n = 0;
      while (b < e) {
        const void* nl = std::memchr(b, '\n', static_cast<std::size_t>(e - b));
        if (!nl) break;
        ++n;
        b = static_cast<const char*>(nl) + 1;
      }
      return n;
    };
    const char* p = data.get();
    return count(p + pos, p + pos + first) + count(p, p + (len - first));
  }
};

bool AccessLogShard::log(const AccessRecord& r, const FieldSet& fields) {
  Ring& g = *ring_;
  const std::uint64_t head = g.head.load(std::memory_order_relaxed);
  const std::uint64_t used = head - g.tail.load(std::memory_order_acquire);
  const std::size_t pos = static_cast<std::size_t>(head % g.capacity);
  // [head, tail + capacity) belongs to this producer until head moves: when the line's bound fits
  // there without wrapping (nearly always), it is formatted in place; otherwise through scratch.
  const std::size_t room = std::min<std::size_t>(g.capacity - used, g.capacity - pos);
  std::size_t n = 0;
  bool ok = true;
  if (line_bound(r, fields) <= room) {
    char* at = g.data.get() + pos;
    n = static_cast<std::size_t>(format_to(r, fields, at) - at);
  } else {
    n = format_into(r, fields, g.scratch);
    ok = n <= g.capacity - used;
    if (ok) {
      const std::size_t first = std::min(n, g.capacity - pos);
      std::memcpy(g.data.get() + pos, g.scratch.data(), first);
      std::memcpy(g.data.get(), g.scratch.data() + first, n - first);
    }
    if (g.scratch.capacity() > kScratchKeep) {  // after a pathological line: give the memory back
      std::string fresh;
      fresh.reserve(kScratchReserve);
      g.scratch.swap(fresh);
    }
  }
  if (!ok) {
    g.dropped.store(g.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  g.head.store(head + n, std::memory_order_release);
  const std::size_t half = g.capacity / 2;
  if (used < half && used + n >= half) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto w = ::write(g.wake_fd, &one, sizeof one);  // best effort: the tick covers a miss
  }
  return true;
}

struct AccessLog::Impl {
  enum class Drain { empty, more, would_block, retry_later };

  std::string path;
  bool is_file = false;
  int wake_fd = -1;
  std::vector<std::unique_ptr<AccessLogShard::Ring>> rings;
  std::vector<AccessLogShard> shards;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> hard_dropped{0};
  std::thread writer;

  // The writer's lock: guards `fd`, `pending_fd`, `resume` and the consumer side of every ring.
  std::mutex mu;
  int fd = -1;
  int pending_fd = -1;         // reopen(): the new file, swapped in by the writer thread
  std::condition_variable swapped;  // signalled when pending_fd has been taken
  std::ptrdiff_t resume = -1;  // ring holding the rest of a partially written line: it goes first
  std::mutex reopen_mu;        // one reopen() at a time

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (pending_fd >= 0) ::close(pending_fd);
    if (wake_fd >= 0) ::close(wake_fd);
  }

  // Writer thread, holding `mu`, after a drain: takes the file reopen() handed over. What the old
  // file accepted stays there; what it did not goes to the new one.
  void swap_locked() {
    if (pending_fd < 0) return;
    ::close(fd);
    fd = pending_fd;
    pending_fd = -1;
    swapped.notify_all();
  }

  void wake() const {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto w = ::write(wake_fd, &one, sizeof one);
  }

  // One gathered ring segment: `len` bytes from position `from` of ring `index`.
  struct Piece {
    std::size_t index;
    std::uint64_t from;
    std::size_t len;
  };

  // Advances the consumed rings by `n` bytes of `pieces`, counting whole lines into `lines`.
  void consume(const std::vector<Piece>& pieces, std::size_t n, std::atomic<std::uint64_t>& lines) {
    resume = -1;
    std::uint64_t count = 0;
    for (const Piece& p : pieces) {
      if (n == 0) break;
      const std::size_t take = std::min(n, p.len);
      AccessLogShard::Ring& ring = *rings[p.index];
      count += ring.count_lines(p.from, take);
      ring.tail.store(p.from + take, std::memory_order_release);
      n -= take;
      if (take < p.len) resume = static_cast<std::ptrdiff_t>(p.index);
    }
    lines.fetch_add(count, std::memory_order_relaxed);
  }

  // Moves what the rings hold to the sink. Caller holds `mu`.
  Drain drain_locked() {
    std::vector<iovec> iov;
    std::vector<Piece> pieces;
    iov.reserve(std::min(kMaxIov, rings.size() * 2));
    pieces.reserve(rings.size());
    for (int round = 0; round < kMaxRounds; ++round) {
      iov.clear();
      pieces.clear();
      std::size_t total = 0;
      const std::size_t start = resume >= 0 ? static_cast<std::size_t>(resume) : 0;
      for (std::size_t k = 0; k < rings.size() && iov.size() + 2 <= kMaxIov; ++k) {
        const std::size_t idx = (start + k) % rings.size();
        AccessLogShard::Ring& ring = *rings[idx];
        const std::uint64_t tail = ring.tail.load(std::memory_order_relaxed);
        const std::uint64_t head = ring.head.load(std::memory_order_acquire);
        const auto used = static_cast<std::size_t>(head - tail);
        if (used == 0) continue;
        const std::size_t pos = static_cast<std::size_t>(tail % ring.capacity);
        const std::size_t first = std::min(used, ring.capacity - pos);
        iov.push_back({ring.data.get() + pos, first});
        if (used > first) iov.push_back({ring.data.get(), used - first});
        pieces.push_back({idx, tail, used});
        total += used;
      }
      if (total == 0) return Drain::empty;

      const ssize_t n = ::writev(fd, iov.data(), static_cast<int>(iov.size()));
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) return Drain::would_block;
        if (err == ENOSPC || err == EDQUOT) return Drain::retry_later;
        if (err == EPIPE) {  // SIGPIPE is blocked in the writer thread: consume the pending one
          sigset_t pipe_set;
          sigemptyset(&pipe_set);
          sigaddset(&pipe_set, SIGPIPE);
          const timespec zero{0, 0};
          ::sigtimedwait(&pipe_set, nullptr, &zero);
        }
        consume(pieces, total, hard_dropped);  // hard error: these lines are lost, and counted
        continue;
      }
      consume(pieces, static_cast<std::size_t>(n), written);
    }
    return Drain::more;
  }

  // Discards whatever is still buffered, counting the lines as dropped. Caller holds `mu`.
  void discard_locked() {
    std::uint64_t lines = 0;
    for (auto& ring : rings) {
      const std::uint64_t tail = ring->tail.load(std::memory_order_relaxed);
      const std::uint64_t head = ring->head.load(std::memory_order_acquire);
      lines += ring->count_lines(tail, static_cast<std::size_t>(head - tail));
      ring->tail.store(head, std::memory_order_release);
    }
    hard_dropped.fetch_add(lines, std::memory_order_relaxed);
  }

  // Sleeps until the eventfd fires, the sink is writable (when `want_out`) or `timeout_ms` passes.
  void wait(bool want_out, int sink, int timeout_ms) {
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {sink, POLLOUT, 0}};
    const int r = ::poll(fds, want_out ? 2 : 1, timeout_ms);
    if (r > 0 && (fds[0].revents & POLLIN)) {
      std::uint64_t value;
      [[maybe_unused]] const auto rd = ::read(wake_fd, &value, sizeof value);
    }
  }

  void run() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals belong to the other threads; EPIPE not SIGPIPE

    Drain last = Drain::empty;
    int sink = -1;
    while (!stopping.load(std::memory_order_acquire)) {
      if (last == Drain::more) {
        wait(false, -1, 0);
      } else {
        wait(last == Drain::would_block, sink, kTickMs);
      }
      std::lock_guard lock(mu);
      last = drain_locked();
      if (pending_fd >= 0) {
        swap_locked();
        if (last == Drain::would_block) last = Drain::more;  // the new sink may take it
      }
      sink = fd;
    }

    // Stopping: no producer logs any more. Flush everything the sink takes within kFinalDrain.
    const auto deadline = std::chrono::steady_clock::now() + kFinalDrain;
    for (;;) {
      {
        std::lock_guard lock(mu);
        last = drain_locked();
        swap_locked();
        sink = fd;
        if (last == Drain::empty) return;
        if (std::chrono::steady_clock::now() >= deadline) {
          discard_locked();
          return;
        }
      }
      if (last == Drain::would_block) {
        pollfd out{sink, POLLOUT, 0};
        ::poll(&out, 1, kTickMs);
      } else if (last == Drain::retry_later) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
      }
    }
  }
};

namespace {

// Opens the file sink. O_NONBLOCK only matters for a FIFO: a stalled reader then yields EAGAIN
// instead of blocking the writer thread (and the destructor) forever.
int open_file(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) error = "access log: cannot open '" + path + "': " + errno_text(errno);
  return fd;
}

// Our own descriptor for stdout/stderr (never closes the process's fd 1/2). For a pipe, a fresh
// non-blocking open file description through /proc, so that a stalled reader cannot block the
// writer while the process's own stdout keeps its flags; otherwise a duplicate.
int open_std(int std_fd, std::string& error) {
  struct stat st {};
  if (::fstat(std_fd, &st) != 0) {
    error = std::string("access log: ") + (std_fd == 1 ? "stdout" : "stderr") + " is not open: " + errno_text(errno);
    return -1;
  }
  if (S_ISFIFO(st.st_mode)) {
    const std::string proc = "/proc/self/fd/" + std::to_string(std_fd);
    const int fd = ::open(proc.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) return fd;
  }
  const int fd = ::fcntl(std_fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) error = "access log: cannot duplicate descriptor " + std::to_string(std_fd) + ": " + errno_text(errno);
  return fd;
}

}  // namespace

std::unique_ptr<AccessLog> AccessLog::open(const config::AccessLogSpec& spec, unsigned workers, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->path = spec.path;
  impl->is_file = spec.path != "stdout" && spec.path != "stderr";
  impl->fd = impl->is_file ? open_file(spec.path, error) : open_std(spec.path == "stdout" ? 1 : 2, error);
  if (impl->fd < 0) return nullptr;
  impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0) {
    error = "access log: eventfd: " + errno_text(errno);
    return nullptr;
  }
  const auto capacity = static_cast<std::size_t>(spec.buffer_size);
  impl->rings.reserve(workers);
  impl->shards.reserve(workers);
  for (unsigned i = 0; i < workers; ++i) {
    impl->rings.push_back(std::make_unique<AccessLogShard::Ring>(capacity, impl->wake_fd));
    impl->shards.push_back(AccessLogShard(impl->rings.back().get()));
  }
  Impl* raw = impl.get();
  impl->writer = std::thread([raw] { raw->run(); });
  return std::unique_ptr<AccessLog>(new AccessLog(std::move(impl)));
}

AccessLog::AccessLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AccessLog::~AccessLog() {
  impl_->stopping.store(true, std::memory_order_release);
  impl_->wake();
  if (impl_->writer.joinable()) impl_->writer.join();
}

AccessLogShard& AccessLog::shard(unsigned worker) { return impl_->shards[worker]; }

bool AccessLog::reopen(std::string& error) {
  if (!impl_->is_file) return true;  // stdout/stderr: nothing to reopen
  const int fresh = open_file(impl_->path, error);
  if (fresh < 0) return false;
  // The writer thread drains into the old file, then swaps: every write happens on that thread
  // (SIGPIPE is blocked there), and lines logged before this call land in the old file when it
  // accepts them.
  std::lock_guard serial(impl_->reopen_mu);
  std::unique_lock lock(impl_->mu);
  impl_->pending_fd = fresh;
  impl_->wake();
  impl_->swapped.wait(lock, [&] { return impl_->pending_fd < 0; });
  return true;
}

std::uint64_t AccessLog::dropped() const {
  std::uint64_t total = impl_->hard_dropped.load(std::memory_order_relaxed);
  for (const auto& ring : impl_->rings) total += ring->dropped.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t AccessLog::written() const { return impl_->written.load(std::memory_order_relaxed); }

const std::string& AccessLog::path() const { return impl_->path; }

}  // namespace rampart::observe
