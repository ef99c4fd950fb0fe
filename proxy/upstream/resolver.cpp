#include "upstream/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <unordered_map>

namespace rampart::upstream {

namespace asio = boost::asio;

namespace {

// c-ares' process-wide initialisation: a no-op on Linux today, but required by its contract
// before the first channel. Done once, on first use, and never undone.
int library_init() {
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  return status;
}

Resolver::Result failure(std::string why) {
  Resolver::Result r;
  r.error = std::move(why);
  return r;
}

// The answer of one address family (one ares_getaddrinfo with AF_INET or AF_INET6).
struct FamilyAnswer {
  int status = ARES_ECANCELLED;
  std::vector<asio::ip::address> addresses;
  int ttl = INT_MAX;  // smallest TTL of the records (CNAMEs included)

  // The name has no record of this family: NXDOMAIN, or NOERROR without records (NODATA).
  bool none() const { return status == ARES_ENOTFOUND || status == ARES_ENODATA || (status == ARES_SUCCESS && addresses.empty()); }
  bool records() const { return status == ARES_SUCCESS && !addresses.empty(); }
  // Neither: the query failed (timeout, refused, server failure), so we do not know.
  bool unknown() const { return !none() && !records(); }
  std::string why() const { return status == ARES_SUCCESS ? "no address in the answer" : ares_strerror(status); }

  void collect(const ares_addrinfo* ai) {
    for (const ares_addrinfo_node* n = ai ? ai->nodes : nullptr; n; n = n->ai_next) {
      if (n->ai_family == AF_INET && n->ai_addrlen >= static_cast<ares_socklen_t>(sizeof(sockaddr_in))) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
        addresses.emplace_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
      } else if (n->ai_family == AF_INET6 && n->ai_addrlen >= static_cast<ares_socklen_t>(sizeof(sockaddr_in6))) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
        asio::ip::address_v6::bytes_type bytes;
        std::memcpy(bytes.data(), &sin6->sin6_addr, bytes.size());
        addresses.emplace_back(asio::ip::address_v6(bytes, sin6->sin6_scope_id));
      } else {
        continue;
      }
      ttl = std::min(ttl, n->ai_ttl);
    }
    for (const ares_addrinfo_cname* c = ai ? ai->cnames : nullptr; c; c = c->next) ttl = std::min(ttl, c->ttl);
  }
};

// One result from the A and AAAA answers (see Result in the header).
Resolver::Result combine(const FamilyAnswer& v4, const FamilyAnswer& v6) {
  if (!v4.records() && !v6.records()) {
    if (v4.none() && v6.none())  // NXDOMAIN says more than NODATA
      return failure(v4.status == ARES_ENOTFOUND || v6.status != ARES_ENOTFOUND ? v4.why() : v6.why());
    if (v4.unknown() && v6.unknown() && v4.status != v6.status) return failure("A: " + v4.why() + "; AAAA: " + v6.why());
    return failure(v4.unknown() ? v4.why() : v6.why());
  }
  Resolver::Result r;
  r.ok = true;
  int ttl = INT_MAX;
  for (const FamilyAnswer* f : {&v4, &v6}) {
    if (!f->records()) continue;
    r.addresses.insert(r.addresses.end(), f->addresses.begin(), f->addresses.end());
    ttl = std::min(ttl, f->ttl);
  }
  // asio::ip::address orders IPv4 before IPv6, then by value.
  std::sort(r.addresses.begin(), r.addresses.end());
  r.addresses.erase(std::unique(r.addresses.begin(), r.addresses.end()), r.addresses.end());
  r.ttl = std::chrono::seconds(std::max(ttl, 0));
  r.v4_unknown = v4.unknown();
  r.v6_unknown = v6.unknown();
  if (r.v4_unknown) r.error = "A: " + v4.why();
  if (r.v6_unknown) r.error = "AAAA: " + v6.why();
  return r;
}

// One socket c-ares asked us to watch. The descriptor does not own the fd: c-ares opens and
// closes it, and tells us (readable = writable = 0) just before it closes it; that is when the
// descriptor must leave the reactor (forget()), not later when the last handler lets go of this
// object: by then c-ares may have opened a new socket with the same number, whose registration
// a late release() would remove.
struct ResolverSocket {
  ResolverSocket(asio::io_context& ioc, ares_socket_t s) : fd(s), descriptor(ioc) {}
  ~ResolverSocket() { forget(); }
  // Cancels pending waits and deregisters the fd, leaving it open for c-ares to close.
  void forget() {
    if (descriptor.is_open()) descriptor.release();
    watchable = false;
  }
  ares_socket_t fd;
  asio::posix::stream_descriptor descriptor;
  bool watchable = false;  // registered with the reactor
  bool want_read = false, want_write = false;
  bool reading = false, writing = false;  // a wait is pending
};

}  // namespace

struct Resolver::Impl {
  explicit Impl(asio::io_context& io) : ioc(io), timer(io) {}

  // One resolve() in flight: an A and an AAAA lookup (ares_getaddrinfo with AF_INET and with
  // AF_INET6, so each follows the hosts file and search list on its own). Each part is a c-ares
  // callback argument; c-ares calls back each exactly once (with ARES_EDESTRUCTION at the
  // latest), and the last one deletes the lookup.
  struct Lookup {
    struct Part {
      Lookup* lookup;
      FamilyAnswer answer;
    };
    Impl* impl;
    std::function<void(Result)> done;
    Part parts[2]{{this, {}}, {this, {}}};  // A, AAAA
    int remaining = 2;
  };

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->sock_state(fd, readable != 0, writable != 0);
  }
  static void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(res, ares_freeaddrinfo);
    auto* part = static_cast<Lookup::Part*>(arg);
    part->answer.status = status;
    if (status == ARES_SUCCESS) part->answer.collect(res);
    if (--part->lookup->remaining > 0) return;
    std::unique_ptr<Lookup> lookup(part->lookup);
    Impl& impl = *lookup->impl;
    --impl.pending;
    if (impl.destroying) return;  // the destructor's promise: no callback
    impl.deliver(std::move(lookup->done), combine(lookup->parts[0].answer, lookup->parts[1].answer));
  }

  void sock_state(ares_socket_t fd, bool readable, bool writable) {
    if (!readable && !writable) {
      if (auto it = sockets.find(fd); it != sockets.end()) {
        it->second->forget();  // now: c-ares closes the fd right after this call
        sockets.erase(it);
      }
      return;
    }
    auto& slot = sockets[fd];
    if (!slot) {
      slot = std::make_shared<ResolverSocket>(ioc, fd);
      boost::system::error_code ec;
      slot->descriptor.assign(fd, ec);
      // Not watchable (cannot happen for a fresh socket short of running out of memory): the
      // query still ends, by c-ares' timeout.
      slot->watchable = !ec;
    }
    slot->want_read = readable;
    slot->want_write = writable;
    if (!destroying) arm(slot);
  }

  // Starts the waits the socket wants and does not have yet.
  void arm(const std::shared_ptr<ResolverSocket>& s) {
    if (!s->watchable) return;
    if (s->want_read && !s->reading) {
      s->reading = true;
      s->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                               [this, life = std::weak_ptr<int>(life), ws = std::weak_ptr<ResolverSocket>(s)](
                                   boost::system::error_code ec) { on_ready(life, ws, true, ec); });
    }
    if (s->want_write && !s->writing) {
      s->writing = true;
      s->descriptor.async_wait(asio::posix::descriptor_base::wait_write,
                               [this, life = std::weak_ptr<int>(life), ws = std::weak_ptr<ResolverSocket>(s)](
                                   boost::system::error_code ec) { on_ready(life, ws, false, ec); });
    }
  }

  void on_ready(const std::weak_ptr<int>& alive, const std::weak_ptr<ResolverSocket>& ws, bool read,
                boost::system::error_code ec) {
    if (alive.expired()) return;
    auto s = ws.lock();
    if (!s) return;  // c-ares closed the socket meanwhile
    (read ? s->reading : s->writing) = false;
    if (ec == asio::error::operation_aborted) return;
    ares_process_fd(channel, read ? s->fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : s->fd);
    // Re-arm unless c-ares closed (or replaced) the socket while processing. A wait that failed
    // outright is not retried (it would fail again at once); c-ares' timeout ends its query.
    auto it = sockets.find(s->fd);
    if (!ec && it != sockets.end() && it->second == s && !destroying) arm(s);
    schedule_timeout();
  }

  // Sets the timer to c-ares' next retransmission or query timeout; stops it when idle.
  void schedule_timeout() {
    if (destroying || !channel) return;
    timeval tv{};
    if (!ares_timeout(channel, nullptr, &tv)) {
      timer.cancel();
      return;
    }
    // c-ares rounds to milliseconds: wait one more so the query is really due when we wake.
    timer.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec) +
                        std::chrono::milliseconds(1));
    timer.async_wait([this, life = std::weak_ptr<int>(life)](boost::system::error_code ec) {
      if (life.expired() || ec) return;
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      schedule_timeout();
    });
  }

  // Calls `done` later from the io_context, unless the resolver is gone by then.
  void deliver(std::function<void(Result)> done, Result r) {
    asio::post(ioc, [life = std::weak_ptr<int>(life), done = std::move(done), r = std::move(r)]() mutable {
      if (life.expired()) return;
      done(std::move(r));  // may destroy the resolver: touch nothing after
    });
  }

  asio::io_context& ioc;
  ares_channel channel = nullptr;
  std::string init_error;  // set when the channel could not be made
  std::string server_name;
  std::unordered_map<ares_socket_t, std::shared_ptr<ResolverSocket>> sockets;
  asio::steady_timer timer;
  std::shared_ptr<int> life = std::make_shared<int>(0);  // expires with the resolver
  bool destroying = false;
  std::size_t pending = 0;
};

Resolver::Resolver(asio::io_context& ioc, std::optional<core::HostPort> server) : impl_(std::make_unique<Impl>(ioc)) {
  Impl& im = *impl_;
  im.server_name = server ? server->str() : "system";
  if (int rc = library_init(); rc != ARES_SUCCESS) {
    im.init_error = std::string("c-ares library: ") + ares_strerror(rc);
    return;
  }
  if (server && !server->is_ip_literal()) {
    im.init_error = "resolver " + server->str() + " is not an IP address";
    return;
  }
  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  opts.sock_state_cb = &Impl::on_sock_state;
  opts.sock_state_cb_data = &im;
  opts.timeout = static_cast<int>(query_timeout.count());
  opts.tries = query_tries;
  char dns_only[] = "b";
  if (server) {
    // An explicit server: DNS only, names as given (no search list).
    mask |= ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS;
    opts.lookups = dns_only;
    opts.domains = nullptr;
    opts.ndomains = 0;
  }
  ares_channel ch = nullptr;
  if (int rc = ares_init_options(&ch, &opts, mask); rc != ARES_SUCCESS) {
    im.init_error = std::string("c-ares channel: ") + ares_strerror(rc);
    if (ch) ares_destroy(ch);
    return;
  }
  if (server) {
    if (int rc = ares_set_servers_ports_csv(ch, server->str().c_str()); rc != ARES_SUCCESS) {
      im.init_error = "resolver " + server->str() + ": " + ares_strerror(rc);
      ares_destroy(ch);
      return;
    }
  }
  im.channel = ch;
}

Resolver::~Resolver() {
  Impl& im = *impl_;
  im.destroying = true;
  im.life.reset();  // results already posted are discarded
  im.timer.cancel();
  if (im.channel) ares_destroy(im.channel);  // runs on_addrinfo (EDESTRUCTION) and closes sockets
  im.channel = nullptr;
  im.sockets.clear();
}

void Resolver::resolve(const std::string& name, std::function<void(Result)> done) {
  Impl& im = *impl_;
  boost::system::error_code ec;
  auto literal = asio::ip::make_address(name, ec);
  if (!ec) {
    Result r;
    r.ok = true;
    r.addresses.push_back(literal);
    r.ttl = literal_ttl;
    im.deliver(std::move(done), std::move(r));
    return;
  }
  if (!im.channel) {
    im.deliver(std::move(done), failure(im.init_error));
    return;
  }
  ++im.pending;
  auto* lookup = new Impl::Lookup{&im, std::move(done)};
  // Either call may run on_addrinfo before returning (hosts file, bad name): that only posts,
  // and the lookup lives until both parts are in, so parts[1] is still there for the second call.
  ares_addrinfo_hints hints{};
  hints.ai_flags = ARES_AI_NOSORT;  // we sort; RFC 6724 sorting would open a socket per address
  hints.ai_family = AF_INET;
  ares_getaddrinfo(im.channel, name.c_str(), nullptr, &hints, &Impl::on_addrinfo, &lookup->parts[0]);
  hints.ai_family = AF_INET6;
  ares_getaddrinfo(im.channel, name.c_str(), nullptr, &hints, &Impl::on_addrinfo, &lookup->parts[1]);
  im.schedule_timeout();
}

const std::string& Resolver::server() const { return impl_->server_name; }

std::size_t Resolver::pending() const { return impl_->pending; }

}  // namespace rampart::upstream
