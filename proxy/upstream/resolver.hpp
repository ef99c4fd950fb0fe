// Asynchronous DNS lookups of upstream endpoint names: one c-ares channel driven by an Asio
// io_context. c-ares reports which sockets it wants watched (its socket-state callback); each
// one is waited on with an Asio descriptor and handed back to ares_process_fd when ready, and
// c-ares' own retransmission timeouts run on a steady_timer. Nothing blocks the io_context.
//
// Thread: every member, and every callback, runs on the io_context's thread (for the control
// thread's io_context: the control thread).
#pragma once
#include "core/net.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rampart::upstream {

class Resolver {
 public:
  // How long each DNS server gets for the first try of a query, and how many tries each gets
  // (c-ares doubles the wait on each new round). With one server, a silent one fails a query
  // after about 1.5 + 3 + 6 = 10.5 s; one that refuses (ICMP port unreachable) after about 3 s
  // (c-ares 1.18 still waits out a timeout there).
  static constexpr std::chrono::milliseconds query_timeout{1500};
  static constexpr int query_tries = 3;
  // The TTL reported for an IP literal, which never changes.
  static constexpr std::chrono::seconds literal_ttl{24 * 3600};

  // `server` unset: the system's configuration (/etc/resolv.conf: servers, search domains,
  // ndots; /etc/hosts consulted as nsswitch.conf says). `server` set (an IP literal and port):
  // only that DNS server is asked, names are taken as absolute (no search domains) and the hosts
  // file is not consulted. A channel that cannot be set up makes every resolve() fail with the
  // reason; the constructor does not throw for it.
  Resolver(boost::asio::io_context& ioc, std::optional<core::HostPort> server);
  // Drops pending queries: their `done` callbacks are NOT called, neither during nor after the
  // destructor (results already posted to the io_context are discarded too). May be called from
  // inside a `done` callback of this resolver.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  struct Result {
    bool ok = false;    // some address came back
    std::string error;  // when !ok: why, in c-ares' words ("Domain name not found", "Timeout while
                        // contacting DNS servers"); when ok with a family unknown (below): why,
                        // prefixed "A: " or "AAAA: "
    std::vector<boost::asio::ip::address> addresses;  // when ok: never empty
    std::chrono::seconds ttl{0};  // when ok: the smallest TTL of the records (CNAMEs included);
                                  // 0 for hosts-file answers, literal_ttl for an IP literal
    // When ok: the query of this family failed (timeout, refusal, server failure) while the other
    // family answered. `addresses` then lacks the family for want of an answer, not because the
    // name has none of it; a caller holding earlier addresses of that family may keep them.
    bool v4_unknown = false;
    bool v6_unknown = false;
  };

  // Looks up the A and AAAA records of `name` (two lookups, each following the hosts file and
  // search list as configured). `done` is called exactly once (unless the resolver is destroyed
  // first), always later from the io_context, never from inside this call. Addresses come IPv4
  // first, then IPv6, each sorted, without duplicates. A family with no records (NXDOMAIN,
  // NODATA) is simply absent: a name with only A records succeeds. No address at all is a
  // failure (!ok), NXDOMAIN included. An IP literal ("10.0.0.1", "::1") resolves to itself
  // without a query.
  void resolve(const std::string& name, std::function<void(Result)> done);

  // Where queries go: "127.0.0.1:5353" or "system".
  const std::string& server() const;
  // Queries sent and not answered yet (tests, diagnostics).
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::upstream
