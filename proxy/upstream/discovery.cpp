#include "upstream/discovery.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <set>

namespace rampart::upstream {

namespace asio = boost::asio;

namespace {

std::string list(const std::vector<asio::ip::address>& addresses) {
  std::string out = "[";
  for (const auto& a : addresses) {
    if (out.size() > 1) out += ", ";
    out += a.to_string();
  }
  return out + "]";
}

std::string count(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

struct Discovery::Entry {
  explicit Entry(asio::io_context& ioc) : timer(ioc) {}

  std::string host;
  std::optional<core::HostPort> resolver;
  std::uint64_t id = 0;  // tells a recreated entry from the one an old callback was meant for
  bool literal = false;  // an IP literal: answers without a query, never refreshed

  // Schedule, from the watch() listings (meaningful while watched).
  bool watched = false;
  std::optional<core::Duration> refresh;  // shortest configured
  bool follow_ttl = false;                // some listing leaves `refresh` unset

  // Last good answer.
  bool good = false;
  std::vector<asio::ip::address> addresses;
  std::chrono::seconds ttl{0};

  // Last answer of any kind.
  bool answered = false;
  Clock::time_point answered_at{};
  std::uint32_t failures = 0;  // consecutive; 0 = not in a failure streak
  std::string error;           // of the last failure

  bool in_flight = false;     // a background query is pending
  std::uint64_t issued = 0;   // queries started (background and resolve_now), numbered from 1
  std::uint64_t applied = 0;  // number of the newest query whose answer is stored
  asio::steady_timer timer;   // next background query
};

Discovery::Discovery(asio::io_context& ioc, std::function<void()> on_change, std::function<void(const std::string&)> log)
    : ioc_(ioc), on_change_(std::move(on_change)), log_(std::move(log)) {}

Discovery::~Discovery() {
  life_.reset();
  resolvers_.clear();  // pending queries: no callback
  entries_.clear();    // timers: handlers see life_ expired
}

Discovery::Key Discovery::key_of(const Name& n) { return {n.host, n.resolver ? n.resolver->str() : std::string()}; }

std::string Discovery::describe(const Entry& e) {
  return "'" + e.host + "' (" + (e.resolver ? "resolver " + e.resolver->str() : std::string("system resolver")) + ")";
}

Discovery::Entry& Discovery::entry_for(const Name& n) {
  auto& slot = entries_[key_of(n)];
  if (!slot) {
    slot = std::make_unique<Entry>(ioc_);
    slot->host = n.host;
    slot->resolver = n.resolver;
    slot->id = ++next_id_;
    boost::system::error_code ec;
    asio::ip::make_address(n.host, ec);
    slot->literal = !ec;
  }
  return *slot;
}

Resolver& Discovery::resolver_for(const std::optional<core::HostPort>& server) {
  auto& slot = resolvers_[server ? server->str() : std::string()];
  if (!slot) slot = std::make_unique<Resolver>(ioc_, server);
  return *slot;
}

void Discovery::watch(std::vector<Name> names) {
  struct Listing {
    const Name* name;
    std::optional<core::Duration> refresh;
    bool follow_ttl = false;
  };
  std::map<Key, Listing> wanted;
  for (const auto& n : names) {
    auto it = wanted.try_emplace(key_of(n), Listing{&n, std::nullopt, false}).first;
    Listing& l = it->second;
    if (n.refresh)
      l.refresh = l.refresh ? std::min(*l.refresh, *n.refresh) : *n.refresh;
    else
      l.follow_ttl = true;
  }
  for (auto it = entries_.begin(); it != entries_.end();)
    it = wanted.count(it->first) ? std::next(it) : entries_.erase(it);
  for (auto it = resolvers_.begin(); it != resolvers_.end();) {
    bool used = std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first.second == it->first; });
    it = used ? std::next(it) : resolvers_.erase(it);
  }
  for (const auto& [key, l] : wanted) {
    Entry& e = entry_for(*l.name);
    e.refresh = l.refresh;
    e.follow_ttl = l.follow_ttl;
    const bool fresh = !e.watched && !e.answered;
    e.watched = true;
    if (fresh)
      start(e);
    else
      schedule(e);  // next query counts from the last answer, with the interval as now configured
  }
}

std::vector<asio::ip::address> Discovery::addresses(const Name& name) const {
  auto it = entries_.find(key_of(name));
  if (it == entries_.end()) return {};
  return it->second->addresses;
}

void Discovery::start(Entry& e) {
  e.in_flight = true;
  const std::uint64_t seq = ++e.issued;
  resolver_for(e.resolver)
      .resolve(e.host, [this, key = Key(e.host, e.resolver ? e.resolver->str() : std::string()), id = e.id,
                        seq](Resolver::Result r) { on_answer(key, id, seq, std::move(r)); });
}

// Called by our own Resolver, which calls nothing once destroyed (and we destroy it first).
void Discovery::on_answer(const Key& key, std::uint64_t id, std::uint64_t seq, Resolver::Result r) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->id != id) return;  // forgotten meanwhile
  Entry& e = *it->second;
  e.in_flight = false;
  const bool changed = apply(e, seq, std::move(r), Clock::now());
  schedule(e);
  if (changed && e.watched) on_change_();  // may call watch(): touch nothing after
}

bool Discovery::apply(Entry& e, std::uint64_t seq, Resolver::Result r, Clock::time_point now) {
  if (seq <= e.applied) return false;  // a newer answer is stored already
  e.applied = seq;
  e.answered = true;
  e.answered_at = now;
  const std::string what = "dns: " + describe(e);
  if (!r.ok) {
    e.error = std::move(r.error);
    if (++e.failures == 1)
      log_(what + " failed: " + e.error +
           (e.good ? "; keeping " + count(e.addresses.size(), "address", "addresses") + " " + list(e.addresses)
                   : "; no addresses yet"));
    return false;
  }
  // One family unanswered (its query failed, the other's did not): keep what we had of it.
  std::vector<asio::ip::address> next = std::move(r.addresses);
  std::string partial;
  if (r.v4_unknown || r.v6_unknown) {
    for (const auto& a : e.addresses)
      if (a.is_v4() ? r.v4_unknown : r.v6_unknown) next.push_back(a);
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    partial = " (" + r.error + (e.good ? "; previous addresses of that family kept)" : ")");
  }
  const bool first = !e.good;
  const bool changed = first || next != e.addresses;
  const std::string after = e.failures ? " after " + count(e.failures, "failed attempt", "failed attempts") : std::string();
  if (first)
    log_(what + " resolved to " + list(next) + after + partial);
  else if (changed)
    log_(what + " addresses changed" + after + ": " + list(e.addresses) + " -> " + list(next) + partial);
  else if (e.failures)
    log_(what + " resolves again" + after + ", addresses unchanged " + list(next));
  e.failures = 0;
  e.error.clear();
  e.good = true;
  e.ttl = r.ttl;
  e.addresses = std::move(next);
  return changed;
}

core::Duration Discovery::interval(const Entry& e) const {
  using std::chrono::duration_cast;
  auto d = core::Duration::max();
  if (e.refresh) d = std::max(*e.refresh, min_refresh);
  if (e.failures) {
    // Backoff: 1 s, 2 s, 4 s ... max_backoff.
    const std::chrono::seconds backoff(std::int64_t{1} << std::min<std::uint32_t>(e.failures - 1, 16));
    d = std::min(d, duration_cast<core::Duration>(std::min<std::chrono::seconds>(backoff, max_backoff)));
  } else if (e.follow_ttl || !e.refresh) {
    d = std::min(d, duration_cast<core::Duration>(std::clamp<std::chrono::seconds>(e.ttl, min_ttl, max_ttl)));
  }
  return d;
}

void Discovery::schedule(Entry& e) {
  if (!e.watched || e.literal || e.in_flight || !e.answered) return;
  e.timer.expires_at(e.answered_at + interval(e));
  e.timer.async_wait([this, life = std::weak_ptr<int>(life_), key = Key(e.host, e.resolver ? e.resolver->str() : std::string()),
                      id = e.id](boost::system::error_code ec) {
    if (life.expired() || ec) return;
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second->id != id) return;
    Entry& entry = *it->second;
    if (entry.watched && !entry.in_flight) start(entry);
  });
}

std::vector<std::string> Discovery::resolve_now(const std::vector<Name>& names, core::Duration timeout) {
  struct Ask {
    Key key;
    const Name* name;
    std::uint64_t id = 0;
    std::uint64_t seq = 0;
    bool answered = false;
    Resolver::Result result;
  };
  std::vector<Ask> asks;
  std::set<Key> seen;
  for (const auto& n : names) {
    Key key = key_of(n);
    if (!seen.insert(key).second) continue;
    Entry& e = entry_for(n);
    asks.push_back(Ask{std::move(key), &n, e.id, ++e.issued, false, {}});
  }

  // Declared in this order so the resolvers (whose sockets and results belong to `local`) go
  // first; pending queries are dropped with them, without calling back.
  asio::io_context local(1);
  std::map<std::string, std::unique_ptr<Resolver>> resolvers;
  std::size_t outstanding = asks.size();
  for (std::size_t i = 0; i < asks.size(); ++i) {
    const Name& n = *asks[i].name;
    auto& r = resolvers[asks[i].key.second];
    if (!r) r = std::make_unique<Resolver>(local, n.resolver);
    r->resolve(n.host, [&asks, &outstanding, i](Resolver::Result result) {
      asks[i].answered = true;
      asks[i].result = std::move(result);
      --outstanding;
    });
  }
  const auto deadline = Clock::now() + timeout;
  while (outstanding > 0 && local.run_one_until(deadline) > 0) {
  }
  resolvers.clear();

  const auto now = Clock::now();
  bool changed = false;
  std::vector<std::string> errors;
  for (auto& a : asks) {
    auto it = entries_.find(a.key);
    if (it == entries_.end() || it->second->id != a.id) continue;
    Entry& e = *it->second;
    Resolver::Result r = a.answered ? std::move(a.result) : Resolver::Result{};
    if (!a.answered) r.error = "no answer within " + core::format_duration(timeout);
    if (apply(e, a.seq, std::move(r), now) && e.watched) changed = true;
    schedule(e);  // a watched name's next query counts from this answer
    if (!e.good) errors.push_back(describe(e) + ": " + e.error);
  }
  if (changed) {
    asio::post(ioc_, [this, life = std::weak_ptr<int>(life_)] {
      if (!life.expired()) on_change_();
    });
  }
  return errors;
}

}  // namespace rampart::upstream
