// DNS discovery of upstream endpoints given by name: keeps a set of names resolved, re-resolves
// each on its schedule, and tells when an address set changes (the control thread then builds a
// new snapshot with the new endpoints).
//
// Names are keyed by (host, resolver): the same host asked of two resolvers is two entries.
//
// Schedule: a name is re-resolved `refresh` after its last answer or, when `refresh` is unset,
// after the answer's TTL clamped to [min_ttl, max_ttl] (hosts-file answers carry TTL 0, so they
// are re-read every second). A name listed several times with different `refresh` values uses the
// shortest (and the TTL too if any listing leaves `refresh` unset). One background query per name
// is in flight at a time. During a failure streak the next try comes after a backoff doubling from
// 1 s up to max_backoff, but never later than `refresh` when that is set. IP literals resolve to
// themselves and are never re-resolved.
//
// Failures keep the last good set. That includes an empty answer (NXDOMAIN, or a name with no
// A/AAAA records) after a good answer: a record that vanishes is more often a DNS mistake or a
// deploy in progress than a request to send no traffic, and an upstream with no endpoints can only
// answer 503. A name that never resolved has no addresses. A failure streak is logged once, when
// it starts (and its end once, when the name resolves again); changes are logged each time.
//
// Thread: one io_context's thread (the control thread) for every member and every callback.
// on_change may call any member; it must not destroy the Discovery. log must not call back.
#pragma once
#include "core/net.hpp"
#include "core/units.hpp"
#include "upstream/resolver.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rampart::upstream {

class Discovery {
 public:
  static constexpr std::chrono::seconds min_ttl{1};
  static constexpr std::chrono::seconds max_ttl{3600};
  static constexpr std::chrono::seconds max_backoff{60};
  static constexpr core::Duration min_refresh{100};  // a smaller configured `refresh` is raised to this

  struct Name {
    std::string host;                        // DNS name (or IP literal)
    std::optional<core::HostPort> resolver;  // unset: the system's configuration
    std::optional<core::Duration> refresh;   // unset: the answer's TTL
  };

  // on_change: called on the io_context's thread, after the fact, when a watched name's address
  // set changed (its first good answer included). One call may cover several names.
  // log: one human-readable line per event worth logging ("... failed: ...; keeping 2 addresses",
  // "... addresses changed: ..."). Both must outlive the Discovery.
  Discovery(boost::asio::io_context& ioc, std::function<void()> on_change, std::function<void(const std::string&)> log);
  // Cancels timers and pending queries; no callback runs afterwards.
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Replaces the watched set. Names already known (watched, or answered by resolve_now) keep
  // their addresses and schedule (the next query counts from their last answer, with the
  // `refresh` now listed); names no longer listed are forgotten; names never asked yet are
  // resolved at once. Returns at once; answers arrive through on_change.
  void watch(std::vector<Name> names);

  // Last good addresses of a name (IPv4 first, sorted), empty if it never resolved.
  std::vector<boost::asio::ip::address> addresses(const Name& name) const;

  // Resolves `names` now and waits for the answers, at most `timeout`; the results are stored
  // as background answers would be (addresses(), failure streaks, logging). For the control
  // thread before it builds a snapshot (start, reload). Returns one line per name that has no
  // good address afterwards: "<host> (resolver <r>): <why>"; empty when all have addresses.
  //
  // Blocks the calling thread for up to `timeout`: the queries run on a private io_context, so no
  // other handler of `ioc` (a signal, a second reload) runs inside this call. If this changes
  // the address set of a watched name, on_change is posted to `ioc` (not called from here).
  // Names not watched stay unwatched (not refreshed) until a watch() lists them.
  std::vector<std::string> resolve_now(const std::vector<Name>& names, core::Duration timeout);

 private:
  using Key = std::pair<std::string, std::string>;  // (host, resolver or "")
  struct Entry;
  using Clock = std::chrono::steady_clock;

  static Key key_of(const Name& n);
  static std::string describe(const Entry& e);
  Entry& entry_for(const Name& n);
  Resolver& resolver_for(const std::optional<core::HostPort>& server);
  void start(Entry& e);
  void on_answer(const Key& key, std::uint64_t id, std::uint64_t seq, Resolver::Result r);
  // Stores an answer; returns true when the address set changed. Ignores answers older than the
  // one stored (`seq`).
  bool apply(Entry& e, std::uint64_t seq, Resolver::Result r, Clock::time_point now);
  void schedule(Entry& e);
  core::Duration interval(const Entry& e) const;

  boost::asio::io_context& ioc_;
  std::function<void()> on_change_;
  std::function<void(const std::string&)> log_;
  std::map<Key, std::unique_ptr<Entry>> entries_;
  std::map<std::string, std::unique_ptr<Resolver>> resolvers_;  // by resolver address ("" = system)
  std::uint64_t next_id_ = 0;
  std::shared_ptr<int> life_ = std::make_shared<int>(0);  // expires with *this (guards posted handlers)
};

}  // namespace rampart::upstream
