// Resolver and Discovery against a real dnsmasq started by the test on 127.0.0.1 and a free port,
// serving a hosts file the test writes (and rewrites, then SIGHUPs dnsmasq to reread it).
// dnsmasq missing is a failure, not a skip.
#include "upstream/discovery.hpp"
#include "upstream/resolver.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace rampart::upstream;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* dnsmasq_bin = "/usr/sbin/dnsmasq";

asio::ip::address ip(const char* s) { return asio::ip::make_address(s); }

// A directory of its own under the temp dir, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rampart-dns-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
  out.close();
  REQUIRE(out.good());
}

// A UDP socket bound to 127.0.0.1 on a free port; reads nothing unless asked (a DNS server that
// never answers).
struct SilentUdp {
  int fd = -1;
  std::uint16_t port = 0;
  SilentUdp() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~SilentUdp() { ::close(fd); }
  // Datagrams received so far (drains them).
  int drain() {
    int n = 0;
    char buf[1500];
    while (::recv(fd, buf, sizeof buf, 0) >= 0) ++n;
    return n;
  }
};

// A port on 127.0.0.1 that nothing listens on (a moment ago), UDP and TCP.
std::uint16_t free_port() {
  SilentUdp probe;
  return probe.port;
}

bool tcp_connects(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One dnsmasq process serving `hosts` for *.test (NXDOMAIN for other .test names), TTL 1 s.
// Debug mode (-d): stays in the foreground, keeps its user (it can read our temp file whoever we
// are), writes no pid file, logs to stderr (kept in <dir>/dnsmasq.log for failures).
class Dnsmasq {
 public:
  Dnsmasq(fs::path dir, fs::path hosts) : dir_(std::move(dir)), hosts_(std::move(hosts)) {
    REQUIRE(::access(dnsmasq_bin, X_OK) == 0);  // missing dnsmasq fails the test
  }
  ~Dnsmasq() { stop(); }

  // Starts on a free port (a few tries, in case another process takes the port first).
  void start() {
    for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) start_on(free_port());
    INFO("dnsmasq log:\n" << log());
    REQUIRE(pid_ > 0);
  }
  // Starts again on the same port.
  void restart() {
    REQUIRE(pid_ < 0);
    start_on(port_);
    INFO("dnsmasq log:\n" << log());
    REQUIRE(pid_ > 0);
  }
  // Rereads the hosts file (and clears the cache).
  void reload() { REQUIRE(::kill(pid_, SIGHUP) == 0); }
  void stop() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    auto deadline = Clock::now() + 3s;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
  }
  std::uint16_t port() const { return port_; }
  rampart::core::HostPort address() const { return {"127.0.0.1", port_}; }
  std::string log() const {
    std::ifstream in(dir_ / "dnsmasq.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  // Leaves pid_ < 0 when dnsmasq exits or does not listen within 5 s.
  void start_on(std::uint16_t port) {
    port_ = port;
    std::vector<std::string> args{dnsmasq_bin,
                                  "-d",
                                  "--conf-file=/dev/null",
                                  "--no-resolv",
                                  "--no-hosts",
                                  "--addn-hosts=" + hosts_.string(),
                                  "--listen-address=127.0.0.1",
                                  "--bind-interfaces",
                                  "--port=" + std::to_string(port),
                                  "--local-ttl=1",
                                  "--local=/test/",
                                  "--log-queries",
                                  "--log-facility=-"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = (dir_ / "dnsmasq.log").string();
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad flag, no binary
        pid_ = -1;
        return;
      }
      if (tcp_connects(port)) return;
      std::this_thread::sleep_for(20ms);
    }
    stop();
  }

  fs::path dir_;
  fs::path hosts_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

// Runs `ioc` until `pred` holds or `limit` passes; returns whether `pred` holds.
template <class Pred>
bool run_until(asio::io_context& ioc, Pred pred, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    ioc.restart();
    ioc.run_for(10ms);
    if (ioc.stopped()) std::this_thread::sleep_for(1ms);  // out of work: nothing can change pred
  }
  return true;
}

void run_for(asio::io_context& ioc, Clock::duration d) {
  run_until(ioc, [] { return false; }, d);
}

std::optional<Resolver::Result> resolve(asio::io_context& ioc, Resolver& r, const std::string& name,
                                        Clock::duration limit = 5s) {
  std::optional<Resolver::Result> out;
  r.resolve(name, [&](Resolver::Result res) { out = std::move(res); });
  run_until(ioc, [&] { return out.has_value(); }, limit);
  return out;
}

std::size_t count_containing(const std::vector<std::string>& lines, const std::string& what) {
  return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// A scripted DNS server on the test's io_context, for what dnsmasq will not do on demand: it
// answers A queries with `a` and AAAA queries with `aaaa`, or with SERVFAIL when
// `servfail_aaaa` is set.
class FakeDns {
 public:
  explicit FakeDns(asio::io_context& ioc) : socket_(ioc, asio::ip::udp::endpoint(ip("127.0.0.1"), 0)) { receive(); }
  rampart::core::HostPort address() const { return {"127.0.0.1", socket_.local_endpoint().port()}; }

  std::vector<asio::ip::address> a, aaaa;
  bool servfail_aaaa = false;

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(in_), peer_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      answer(n);
      receive();
    });
  }
  void answer(std::size_t n) {
    // Header (12 bytes), then one question: labels up to a zero byte, QTYPE, QCLASS.
    std::size_t p = 12;
    while (p < n && in_[p] != 0) p += in_[p] + 1;
    if (p + 5 > n) return;
    const int qtype = in_[p + 1] << 8 | in_[p + 2];
    std::vector<std::uint8_t> out(in_.begin(), in_.begin() + p + 5);  // header and question
    out[2] = 0x81;  // response, recursion desired
    out[3] = 0x80;  // recursion available, NOERROR
    std::fill(out.begin() + 6, out.begin() + 12, 0);  // no answer, authority or additional yet
    std::vector<std::uint8_t> rdata;
    int count = 0;
    if (qtype == 28 && servfail_aaaa) {
      out[3] = 0x82;  // SERVFAIL
    } else {
      for (const auto& addr : qtype == 1 ? a : aaaa) {
        if (qtype == 1 && addr.is_v4()) {
          auto b = addr.to_v4().to_bytes();
          rdata.assign(b.begin(), b.end());
        } else if (qtype == 28 && addr.is_v6()) {
          auto b = addr.to_v6().to_bytes();
          rdata.assign(b.begin(), b.end());
        } else {
          continue;
        }
        // Name: pointer to the question's; type; class IN; TTL 1; the address.
        const std::uint8_t rr[] = {0xc0, 0x0c, 0, static_cast<std::uint8_t>(qtype), 0, 1, 0, 0, 0, 1, 0,
                                   static_cast<std::uint8_t>(rdata.size())};
        out.insert(out.end(), std::begin(rr), std::end(rr));
        out.insert(out.end(), rdata.begin(), rdata.end());
        ++count;
      }
    }
    out[7] = static_cast<std::uint8_t>(count);
    boost::system::error_code ec;
    socket_.send_to(asio::buffer(out), peer_, 0, ec);
  }

  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint peer_;
  std::array<std::uint8_t, 1500> in_{};
};

}  // namespace

TEST_CASE("resolver returns the A and AAAA records of a name, IPv4 first, sorted, with their TTL", "[dns]") {
  TempDir dir;
  const auto hosts = dir.path / "hosts";
  write_file(hosts,
             "10.0.0.2 two.rampart.test\n"
             "fd00::5 two.rampart.test\n"
             "10.0.0.1 two.rampart.test\n"
             "10.0.0.9 v4only.rampart.test\n");
  Dnsmasq dns(dir.path, hosts);
  dns.start();
  asio::io_context ioc;
  Resolver resolver(ioc, dns.address());
  CHECK(resolver.server() == "127.0.0.1:" + std::to_string(dns.port()));

  auto r = resolve(ioc, resolver, "two.rampart.test");
  INFO("dnsmasq log:\n" << dns.log());
  REQUIRE(r);
  INFO("error: " << r->error);
  REQUIRE(r->ok);
  CHECK(r->addresses == std::vector<asio::ip::address>{ip("10.0.0.1"), ip("10.0.0.2"), ip("fd00::5")});
  CHECK(r->ttl == 1s);

  // Only an A record: the empty AAAA answer does not fail the name.
  auto v4 = resolve(ioc, resolver, "v4only.rampart.test");
  REQUIRE(v4);
  REQUIRE(v4->ok);
  CHECK(v4->addresses == std::vector<asio::ip::address>{ip("10.0.0.9")});
  CHECK(resolver.pending() == 0);
}

TEST_CASE("resolver reports NXDOMAIN as a failure", "[dns]") {
  TempDir dir;
  const auto hosts = dir.path / "hosts";
  write_file(hosts, "10.0.0.1 present.rampart.test\n");
  Dnsmasq dns(dir.path, hosts);
  dns.start();
  asio::io_context ioc;
  Resolver resolver(ioc, dns.address());
  auto r = resolve(ioc, resolver, "absent.rampart.test");
  REQUIRE(r);
  CHECK_FALSE(r->ok);
  CHECK(r->addresses.empty());
  CHECK(r->error == "Domain name not found");
}

TEST_CASE("resolver answers an IP literal without sending a query", "[dns]") {
  SilentUdp silent;  // the configured server: would hold any query sent
  asio::io_context ioc;
  Resolver resolver(ioc, rampart::core::HostPort{"127.0.0.1", silent.port});
  for (const char* literal : {"192.0.2.7", "2001:db8::1"}) {
    const auto t0 = Clock::now();
    auto r = resolve(ioc, resolver, literal, 2s);
    REQUIRE(r);
    CHECK(Clock::now() - t0 < 500ms);
    CHECK(r->ok);
    CHECK(r->addresses == std::vector<asio::ip::address>{ip(literal)});
    CHECK(r->ttl == Resolver::literal_ttl);
  }
  CHECK(silent.drain() == 0);
  CHECK(resolver.pending() == 0);
}

TEST_CASE("resolver destructor drops pending queries without calling back", "[dns]") {
  SilentUdp silent;
  asio::io_context ioc;
  auto resolver = std::make_unique<Resolver>(ioc, rampart::core::HostPort{"127.0.0.1", silent.port});
  bool called = false;
  resolver->resolve("app.rampart.test", [&](Resolver::Result) { called = true; });
  int received = 0;
  CHECK(run_until(ioc, [&] { return (received += silent.drain()) >= 2; }, 3s));  // A and AAAA went out
  CHECK(resolver->pending() == 1);
  resolver.reset();
  run_for(ioc, 100ms);
  CHECK_FALSE(called);

  // Destroying the resolver from inside its own callback is allowed.
  resolver = std::make_unique<Resolver>(ioc, rampart::core::HostPort{"127.0.0.1", silent.port});
  resolver->resolve("10.1.1.1", [&](Resolver::Result r) {
    called = r.ok;
    resolver.reset();
  });
  CHECK(run_until(ioc, [&] { return resolver == nullptr; }, 2s));
  CHECK(called);
}

TEST_CASE("discovery follows a changed hosts file and keeps the last good set while dnsmasq is down", "[dns]") {
  TempDir dir;
  const auto hosts = dir.path / "hosts";
  write_file(hosts, "10.0.0.2 app.rampart.test\n10.0.0.1 app.rampart.test\n");
  Dnsmasq dns(dir.path, hosts);
  dns.start();

  asio::io_context ioc;
  int changes = 0;
  std::vector<std::string> lines;
  Discovery discovery(ioc, [&] { ++changes; }, [&](const std::string& l) { lines.push_back(l); });
  auto context = [&] { return "log:\n" + joined(lines) + "dnsmasq log:\n" + dns.log(); };
  const Discovery::Name name{"app.rampart.test", dns.address(), 200ms};
  discovery.watch({name});

  // First answer.
  {
    const bool ok = run_until(ioc, [&] { return changes == 1; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }
  CHECK(discovery.addresses(name) == std::vector<asio::ip::address>{ip("10.0.0.1"), ip("10.0.0.2")});
  CHECK(count_containing(lines, "resolved to [10.0.0.1, 10.0.0.2]") == 1);

  // Unchanged answers do not call on_change.
  run_for(ioc, 700ms);
  CHECK(changes == 1);

  // The records change: on_change within a few refreshes.
  write_file(hosts, "10.0.0.3 app.rampart.test\nfd00::3 app.rampart.test\n");
  dns.reload();
  {
    const bool ok = run_until(ioc, [&] { return changes == 2; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }
  CHECK(discovery.addresses(name) == std::vector<asio::ip::address>{ip("10.0.0.3"), ip("fd00::3")});
  CHECK(count_containing(lines, "addresses changed: [10.0.0.1, 10.0.0.2] -> [10.0.0.3, fd00::3]") == 1);

  // The server goes away: the last good set stays, one log line for the whole streak.
  dns.stop();
  {
    const bool ok = run_until(ioc, [&] { return count_containing(lines, " failed: ") == 1; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }
  run_for(ioc, 1500ms);  // several more failed attempts (refresh 200 ms)
  CHECK(count_containing(lines, " failed: ") == 1);
  CHECK(count_containing(lines, "keeping 2 addresses [10.0.0.3, fd00::3]") == 1);
  CHECK(discovery.addresses(name) == std::vector<asio::ip::address>{ip("10.0.0.3"), ip("fd00::3")});
  CHECK(changes == 2);

  // Back again with the same records: the streak ends (logged once), nothing changed.
  dns.restart();
  {
    const bool ok = run_until(ioc, [&] { return count_containing(lines, "resolves again") == 1; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }
  CHECK(changes == 2);
  CHECK(count_containing(lines, " failed: ") == 1);
}

TEST_CASE("discovery keeps the last good set when the name vanishes (NXDOMAIN)", "[dns]") {
  TempDir dir;
  const auto hosts = dir.path / "hosts";
  write_file(hosts, "10.0.0.7 gone.rampart.test\n");
  Dnsmasq dns(dir.path, hosts);
  dns.start();

  asio::io_context ioc;
  int changes = 0;
  std::vector<std::string> lines;
  Discovery discovery(ioc, [&] { ++changes; }, [&](const std::string& l) { lines.push_back(l); });
  auto context = [&] { return "log:\n" + joined(lines) + "dnsmasq log:\n" + dns.log(); };
  const Discovery::Name name{"gone.rampart.test", dns.address(), 200ms};
  discovery.watch({name});
  {
    const bool ok = run_until(ioc, [&] { return changes == 1; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }

  write_file(hosts, "10.0.0.8 other.rampart.test\n");
  dns.reload();
  {
    const bool ok = run_until(ioc, [&] { return count_containing(lines, "Domain name not found") == 1; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }
  run_for(ioc, 1s);
  CHECK(count_containing(lines, " failed: ") == 1);
  CHECK(count_containing(lines, "keeping 1 address [10.0.0.7]") == 1);
  CHECK(discovery.addresses(name) == std::vector<asio::ip::address>{ip("10.0.0.7")});
  CHECK(changes == 1);

  // A name never resolved has no addresses; watch() forgets names it no longer lists.
  const Discovery::Name other{"other.rampart.test", dns.address(), 200ms};
  CHECK(discovery.addresses(other).empty());
  discovery.watch({other});
  {
    const bool ok = run_until(ioc, [&] { return changes == 2; }, 5s);
    INFO(context());
    REQUIRE(ok);
  }
  CHECK(discovery.addresses(other) == std::vector<asio::ip::address>{ip("10.0.0.8")});
  CHECK(discovery.addresses(name).empty());
}

TEST_CASE("resolve_now stores answers and reports the names left without addresses", "[dns]") {
  TempDir dir;
  const auto hosts = dir.path / "hosts";
  write_file(hosts, "10.0.0.1 a.rampart.test\n10.0.0.2 b.rampart.test\n");
  Dnsmasq dns(dir.path, hosts);
  dns.start();

  asio::io_context ioc;
  int changes = 0;
  std::vector<std::string> lines;
  Discovery discovery(ioc, [&] { ++changes; }, [&](const std::string& l) { lines.push_back(l); });
  auto context = [&] { return "log:\n" + joined(lines) + "dnsmasq log:\n" + dns.log(); };
  const Discovery::Name a{"a.rampart.test", dns.address(), std::nullopt};
  const Discovery::Name b{"b.rampart.test", dns.address(), std::nullopt};
  const Discovery::Name missing{"missing.rampart.test", dns.address(), std::nullopt};
  const Discovery::Name literal{"192.0.2.1", dns.address(), std::nullopt};
  const auto t0 = Clock::now();
  auto errors = discovery.resolve_now({a, b, missing, literal, a}, 5s);
  CHECK(Clock::now() - t0 < 3s);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "'missing.rampart.test' (resolver " + dns.address().str() + "): Domain name not found");
  CHECK(discovery.addresses(a) == std::vector<asio::ip::address>{ip("10.0.0.1")});
  CHECK(discovery.addresses(b) == std::vector<asio::ip::address>{ip("10.0.0.2")});
  CHECK(discovery.addresses(literal) == std::vector<asio::ip::address>{ip("192.0.2.1")});
  // Nothing watched: on_change is not posted.
  run_for(ioc, 100ms);
  CHECK(changes == 0);

  // Watching names that resolve_now answered keeps their addresses (no "resolved to" again).
  discovery.watch({a, b});
  run_for(ioc, 300ms);
  CHECK(count_containing(lines, "'a.rampart.test' (resolver " + dns.address().str() + ") resolved to") == 1);
  CHECK(discovery.addresses(a) == std::vector<asio::ip::address>{ip("10.0.0.1")});
  CHECK(changes == 0);

  // A watched name that resolve_now finds changed: on_change is posted, not called inside.
  write_file(hosts, "10.0.0.1 a.rampart.test\n10.0.0.22 b.rampart.test\n");
  dns.reload();
  std::this_thread::sleep_for(200ms);  // dnsmasq rereads the file
  errors = discovery.resolve_now({a, b}, 5s);
  CHECK(errors.empty());
  CHECK(changes == 0);
  CHECK(discovery.addresses(b) == std::vector<asio::ip::address>{ip("10.0.0.22")});
  {
    const bool ok = run_until(ioc, [&] { return changes >= 1; }, 2s);
    INFO(context());
    REQUIRE(ok);
  }
}

TEST_CASE("resolve_now gives up after its timeout when the resolver is silent, sooner when it refuses", "[dns]") {
  asio::io_context ioc;
  std::vector<std::string> lines;
  Discovery discovery(ioc, [] {}, [&](const std::string& l) { lines.push_back(l); });

  SilentUdp silent;
  const Discovery::Name quiet{"app.rampart.test", rampart::core::HostPort{"127.0.0.1", silent.port}, std::nullopt};
  auto t0 = Clock::now();
  auto errors = discovery.resolve_now({quiet}, 500ms);
  auto took = Clock::now() - t0;
  CHECK(took >= 450ms);
  CHECK(took < 1500ms);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "'app.rampart.test' (resolver 127.0.0.1:" + std::to_string(silent.port) +
                         "): no answer within 500ms");
  CHECK(silent.drain() >= 1);  // the query did go out
  CHECK(count_containing(lines, "failed: no answer within 500ms; no addresses yet") == 1);

  // Nothing listens: the kernel refuses (ICMP port unreachable); c-ares 1.18 still waits out its
  // retransmission timeouts (about 3 s), so the call ends by its own timeout, or sooner.
  const std::uint16_t closed = free_port();
  const Discovery::Name refused{"app.rampart.test", rampart::core::HostPort{"127.0.0.1", closed}, std::nullopt};
  t0 = Clock::now();
  errors = discovery.resolve_now({refused}, 2s);
  took = Clock::now() - t0;
  CHECK(took < 2500ms);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("'app.rampart.test' (resolver 127.0.0.1:" + std::to_string(closed) + "): ") == 0);
  CHECK(discovery.addresses(refused).empty());
}

TEST_CASE("a family whose query fails keeps its previous addresses while the other family updates", "[dns]") {
  asio::io_context ioc;
  FakeDns dns(ioc);
  dns.a = {ip("10.0.0.1")};
  dns.aaaa = {ip("fd00::1")};

  // The resolver says which family it could not learn.
  Resolver resolver(ioc, dns.address());
  auto full = resolve(ioc, resolver, "app.rampart.test");
  REQUIRE(full);
  REQUIRE(full->ok);
  CHECK(full->addresses == std::vector<asio::ip::address>{ip("10.0.0.1"), ip("fd00::1")});
  CHECK_FALSE(full->v4_unknown);
  CHECK_FALSE(full->v6_unknown);
  CHECK(full->ttl == 1s);

  dns.servfail_aaaa = true;
  auto partial = resolve(ioc, resolver, "app.rampart.test");
  REQUIRE(partial);
  REQUIRE(partial->ok);
  CHECK(partial->addresses == std::vector<asio::ip::address>{ip("10.0.0.1")});
  CHECK_FALSE(partial->v4_unknown);
  CHECK(partial->v6_unknown);
  CHECK(partial->error.rfind("AAAA: ", 0) == 0);

  // Discovery merges: new IPv4 set, last known IPv6 set.
  dns.servfail_aaaa = false;
  int changes = 0;
  std::vector<std::string> lines;
  Discovery discovery(ioc, [&] { ++changes; }, [&](const std::string& l) { lines.push_back(l); });
  const Discovery::Name name{"app.rampart.test", dns.address(), 200ms};
  discovery.watch({name});
  {
    const bool ok = run_until(ioc, [&] { return changes == 1; }, 5s);
    INFO(joined(lines));
    REQUIRE(ok);
  }
  dns.servfail_aaaa = true;
  dns.a = {ip("10.0.0.2")};
  {
    const bool ok = run_until(ioc, [&] { return changes == 2; }, 5s);
    INFO(joined(lines));
    REQUIRE(ok);
  }
  CHECK(discovery.addresses(name) == std::vector<asio::ip::address>{ip("10.0.0.2"), ip("fd00::1")});
  CHECK(count_containing(lines, "previous addresses of that family kept") == 1);
  run_for(ioc, 600ms);  // more partial answers, nothing new
  CHECK(changes == 2);
  CHECK(count_containing(lines, " failed: ") == 0);
}
