// rate_limit: the GCRA table on a simulated clock, the key bound, state across rebuilds, threads
// sharing one bucket, the request key, and the header lines.
#include "policy/rate_limit.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

using namespace rampart;
using policy::RateDecision;
using policy::RateLimit;
using policy::RateTable;
using policy::RateTableRegistry;

namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSec = 1'000 * kMs;
constexpr std::int64_t kT0 = 1'000 * kSec;  // any steady time > 0

config::RateLimitSpec spec_of(std::uint64_t count, std::chrono::milliseconds per, std::uint64_t burst) {
  config::RateLimitSpec s;
  s.count = count;
  s.per = per;
  s.burst = burst;
  return s;
}

// How many of `n` requests at one instant are allowed.
int allowed_of(RateTable& t, std::uint64_t key, std::int64_t now, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += t.check(key, now).allowed ? 1 : 0;
  return ok;
}

}  // namespace

TEST_CASE("rate limit: a fresh key admits burst plus one at once, then one per interval") {
  RateTable t(100 * kMs, 4, 100, 7);  // 10/s, burst 4
  for (std::uint64_t i = 0; i < 5; ++i) {
    const auto d = t.check(42, kT0);
    REQUIRE(d.allowed);
    CHECK(d.remaining == 3 - i + 1);
    CHECK(d.reset_ns == static_cast<std::int64_t>(i + 1) * 100 * kMs);  // until the bucket is full again
  }
  auto d = t.check(42, kT0);
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.over_key_bound);
  CHECK(d.remaining == 0);
  CHECK(d.reset_ns == 100 * kMs);  // until the next request is allowed
  d = t.check(42, kT0 + 60 * kMs);
  CHECK_FALSE(d.allowed);
  CHECK(d.reset_ns == 40 * kMs);
  CHECK(t.check(42, kT0 + 100 * kMs).allowed);
  CHECK_FALSE(t.check(42, kT0 + 100 * kMs).allowed);
  CHECK_FALSE(t.check(42, kT0 + 199 * kMs).allowed);
  CHECK(t.check(42, kT0 + 200 * kMs).allowed);
}

TEST_CASE("rate limit: a steady over-rate for 10 simulated seconds gets the rate plus the burst") {
  SECTION("100/s, burst 10, offered 1000/s") {
    RateTable t(10 * kMs, 10, 100, 7);
    int ok = 0;
    for (int k = 0; k < 10'000; ++k) ok += t.check(1, kT0 + k * kMs).allowed ? 1 : 0;
    // burst + 1 at once, then one per 10 ms over the 9.999 s that follow
    CHECK(ok == 11 + 999);
  }
  SECTION("7/s (an interval that is not a whole number of ns), burst 0, offered 1000/s") {
    RateTable t(kSec / 7, 0, 100, 7);
    int ok = 0;
    for (int k = 0; k < 10'000; ++k) ok += t.check(1, kT0 + k * kMs).allowed ? 1 : 0;
    CHECK(ok >= 70);
    CHECK(ok <= 71);
  }
  SECTION("100/s offered 150/s: burst 0 enforces the spacing, burst 1 gets the rate") {
    // Requests every 6.67 ms: with no burst a request must come a whole interval after the last
    // admitted one, so every second one passes; a burst of 1 absorbs the jitter.
    for (std::uint64_t burst : {0, 1}) {
      RateTable t(10 * kMs, burst, 100, 7);
      int ok = 0, offered = 0;
      for (std::int64_t now = kT0; now < kT0 + 10 * kSec; now += kSec / 150, ++offered) ok += t.check(1, now).allowed ? 1 : 0;
      CHECK(offered == 1501);
      CHECK(ok == (burst == 0 ? 751 : 1001));
    }
  }
}

TEST_CASE("rate limit: keys are independent") {
  RateTable t(kSec, 1, 100, 7);  // 1/s, burst 1
  CHECK(allowed_of(t, 10, kT0, 5) == 2);
  CHECK(allowed_of(t, 11, kT0, 5) == 2);
  CHECK(allowed_of(t, 12, kT0, 1) == 1);
  CHECK(allowed_of(t, 10, kT0 + kSec, 5) == 1);
  CHECK(allowed_of(t, 12, kT0 + kSec, 5) == 2);
  CHECK(allowed_of(t, 0, kT0, 5) == 2);  // the hash 0 is a key like any other
}

TEST_CASE("rate limit: an idle key refills, partly or fully") {
  RateTable t(100 * kMs, 4, 100, 7);
  REQUIRE(allowed_of(t, 5, kT0, 10) == 5);
  CHECK(allowed_of(t, 5, kT0 + 250 * kMs, 10) == 2);  // 2.5 intervals: two tokens
  CHECK(allowed_of(t, 5, kT0 + 10 * kSec, 10) == 5);  // long idle: full bucket, never more
  const auto d = t.check(5, kT0 + 20 * kSec);
  CHECK(d.remaining == 4);
}

TEST_CASE("rate limit: the key bound limits new keys until a cell refills") {
  // max_keys 4: 8 cells, all in every key's window. Each key keeps its cell for 1 s.
  RateTable t(kSec, 0, 4, 7);
  REQUIRE(t.capacity() == 8);
  for (std::uint64_t k = 1; k <= 8; ++k) REQUIRE(t.check(k * 1000, kT0 + static_cast<std::int64_t>(k) * kMs).allowed);
  auto d = t.check(9000, kT0 + 10 * kMs);
  CHECK_FALSE(d.allowed);
  CHECK(d.over_key_bound);
  CHECK(d.reset_ns == kSec + kMs - 10 * kMs);  // the first cell (key 1000) refills first
  // Known keys still get their own decision.
  d = t.check(3000, kT0 + 10 * kMs);
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.over_key_bound);
  // Once key 1000's bucket is full again its cell is free: the new key takes it...
  CHECK(t.check(9000, kT0 + kSec + kMs).allowed);
  CHECK(t.check(9001, kT0 + kSec + kMs).over_key_bound);
  // ...and key 1000, back, is over the bound too (its state was a full bucket: nothing lost).
  CHECK(t.check(1000, kT0 + kSec + kMs).over_key_bound);
  CHECK(t.check(1000, kT0 + kSec + 2 * kMs).allowed);  // key 2000's cell refilled in the meantime
}

TEST_CASE("rate limit: threads sharing one key get exactly the single-threaded count") {
  // 4 threads, each sends 3 requests per simulated ms for 2 s against 100/s, burst 5. Every
  // thread's requests of one ms run concurrently with the others' (a barrier per ms).
  constexpr int kThreads = 4, kSteps = 2000, kPerStep = 3;
  RateTable shared(10 * kMs, 5, 1000, 7);
  std::atomic<int> ok{0};
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th)
    threads.emplace_back([&] {
      int mine = 0;
      for (int s = 0; s < kSteps; ++s) {
        sync.arrive_and_wait();
        for (int i = 0; i < kPerStep; ++i) mine += shared.check(77, kT0 + s * kMs).allowed ? 1 : 0;
      }
      ok += mine;
    });
  for (auto& th : threads) th.join();

  RateTable alone(10 * kMs, 5, 1000, 7);
  int expected = 0;
  for (int s = 0; s < kSteps; ++s) expected += allowed_of(alone, 77, kT0 + s * kMs, kThreads * kPerStep);
  CHECK(expected == 6 + 199);  // burst + 1, then one per 10 ms over 1.999 s
  CHECK(ok >= expected - 1);
  CHECK(ok <= expected + 1);
}

TEST_CASE("rate limit: threads on keys that come and go in a small table count like one key alone") {
  // 16 cells, all in one window. 12 keys, 6 active at a time, switching every 40 ms (long enough
  // for an idle bucket to refill, so its cell is taken over by another key), plus one hot key
  // every thread hits every ms. Each key's count must equal the count of its requests on a table
  // of its own.
  constexpr int kThreads = 4, kKeys = 12, kSteps = 600;
  constexpr std::uint64_t kHot = 999;
  auto active = [](int k, int s) { return ((s / 40) + k) % 2 == 0; };
  RateTable t(10 * kMs, 2, 8, 7);
  REQUIRE(t.capacity() == 16);
  std::array<std::atomic<int>, kKeys + 1> ok{};  // [kKeys]: the hot key
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th)
    threads.emplace_back([&, th] {
      for (int s = 0; s < kSteps; ++s) {
        sync.arrive_and_wait();
        const std::int64_t now = kT0 + s * kMs;
        for (int k = th; k < kKeys; k += kThreads)
          if (active(k, s)) ok[k] += t.check(static_cast<std::uint64_t>(k) + 100, now).allowed ? 1 : 0;
        ok[kKeys] += t.check(kHot, now).allowed ? 1 : 0;
      }
    });
  for (auto& th : threads) th.join();

  for (int k = 0; k < kKeys; ++k) {
    RateTable alone(10 * kMs, 2, 8, 7);
    int expected = 0;
    for (int s = 0; s < kSteps; ++s)
      if (active(k, s)) expected += alone.check(1, kT0 + s * kMs).allowed ? 1 : 0;
    INFO("key " << k);
    CHECK(ok[k] == expected);
  }
  RateTable alone(10 * kMs, 2, 8, 7);
  int hot = 0;
  for (int s = 0; s < kSteps; ++s) hot += allowed_of(alone, kHot, kT0 + s * kMs, kThreads);
  CHECK(hot == 3 + 59);
  CHECK(ok[kKeys] >= hot - 1);
  CHECK(ok[kKeys] <= hot + 1);
}

TEST_CASE("rate limit: a rebuild with the same spec keeps the buckets, a changed one starts afresh") {
  RateTableRegistry registry;
  const auto client = *core::parse_ip("192.0.2.9");
  policy::RequestContext ctx{"GET", "/", "", "", &client};
  config::RateLimitSpec spec = spec_of(1, std::chrono::hours(1), 0);

  auto a = std::make_unique<RateLimit>("api", spec, 1, registry);
  CHECK(a->on_request_at(ctx, kT0) == 0);
  CHECK(a->on_request_at(ctx, kT0) == 429);

  RateLimit same("api", spec, 2, registry);  // the next snapshot's copy
  CHECK(same.table() == a->table());
  CHECK(same.on_request_at(ctx, kT0) == 429);

  config::RateLimitSpec other_status = spec;  // only how it answers: still the same buckets
  other_status.status = 503;
  other_status.headers = false;
  RateLimit answered("api", other_status, 3, registry);
  CHECK(answered.table() == a->table());
  CHECK(answered.on_request_at(ctx, kT0) == 503);

  config::RateLimitSpec more = spec;
  more.burst = 1;
  RateLimit changed("api", more, 4, registry);
  CHECK(changed.table() != a->table());
  CHECK(changed.on_request_at(ctx, kT0) == 0);

  RateLimit renamed("api2", spec, 5, registry);
  CHECK(renamed.table() != a->table());
  CHECK(renamed.on_request_at(ctx, kT0) == 0);

  config::RateLimitSpec rekeyed = spec;
  rekeyed.key = {{config::RateKeyPartSpec::Kind::client_ip, ""}, {config::RateKeyPartSpec::Kind::route, ""}};
  CHECK(RateLimit("api", rekeyed, 6, registry).table() != a->table());

  CHECK(registry.live() == 3);  // api, api with burst 1, api2 (the rekeyed one is gone)
  a.reset();
  CHECK(registry.live() == 3);  // `same` and `answered` still hold it
}

TEST_CASE("rate limit: the last holder gone, the same spec gets a fresh table") {
  RateTableRegistry registry;
  const auto client = *core::parse_ip("192.0.2.9");
  policy::RequestContext ctx{"GET", "/", "", "", &client};
  const config::RateLimitSpec spec = spec_of(1, std::chrono::hours(1), 0);
  {
    RateLimit a("api", spec, 1, registry);
    CHECK(a.on_request_at(ctx, kT0) == 0);
    CHECK(a.on_request_at(ctx, kT0) == 429);
  }
  CHECK(registry.live() == 0);
  RateLimit b("api", spec, 1, registry);
  CHECK(b.on_request_at(ctx, kT0) == 0);
}

TEST_CASE("rate limit: the key is built from the client, headers, cookies and the route") {
  RateTableRegistry registry;
  using Kind = config::RateKeyPartSpec::Kind;
  const auto ip1 = *core::parse_ip("192.0.2.1"), ip2 = *core::parse_ip("2001:db8::1");

  // One RateLimit per key kind, so that hashes compare within one table's seed.
  config::RateLimitSpec s = spec_of(10, std::chrono::seconds(1), 0);
  s.key = {{Kind::client_ip, ""}};
  RateLimit by_ip("ip", s, 0, registry);
  policy::RequestContext c1{"GET", "/", "", "", &ip1}, c2{"GET", "/", "", "", &ip2}, none{"GET", "/", "", "", nullptr};
  CHECK(by_ip.key_hash(c1) != by_ip.key_hash(c2));
  CHECK(by_ip.key_hash(c1) == by_ip.key_hash(c1));
  CHECK(by_ip.key_hash(none) != by_ip.key_hash(c1));

  s.key = {{Kind::header, "x-api-key"}};
  RateLimit by_header("h", s, 0, registry);
  const std::vector<http::Header> h1{{"Host", "a"}, {"X-API-Key", "k1"}, {"x-api-key", "k2"}};
  const std::vector<http::Header> h1b{{"x-api-key", "k1"}};
  const std::vector<http::Header> h2{{"X-Api-Key", "k2"}};
  const std::vector<http::Header> empty{{"X-Api-Key", ""}};
  const std::vector<http::Header> missing{{"Host", "a"}};
  auto with = [](const std::vector<http::Header>& hs) {
    policy::RequestContext c{"GET", "/", "", "", nullptr};
    c.headers = hs;
    return c;
  };
  CHECK(by_header.key_hash(with(h1)) == by_header.key_hash(with(h1b)));  // the first one, any case
  CHECK(by_header.key_hash(with(h1)) != by_header.key_hash(with(h2)));
  CHECK(by_header.key_hash(with(empty)) == by_header.key_hash(with(missing)));  // both an empty part

  s.key = {{Kind::cookie, "session"}};
  RateLimit by_cookie("c", s, 0, registry);
  const std::vector<http::Header> k1{{"Cookie", "theme=dark; session=abc;x=1"}};
  const std::vector<http::Header> k1b{{"cookie", "a=1"}, {"cookie", " session = abc "}};
  const std::vector<http::Header> k2{{"Cookie", "Session=abc; session=abd"}};
  const std::vector<http::Header> k3{{"Cookie", "xsession=abc"}};
  CHECK(by_cookie.key_hash(with(k1)) == by_cookie.key_hash(with(k1b)));
  CHECK(by_cookie.key_hash(with(k1)) != by_cookie.key_hash(with(k2)));  // names are case-sensitive
  CHECK(by_cookie.key_hash(with(k3)) == by_cookie.key_hash(with(missing)));

  s.key = {{Kind::route, ""}};
  RateLimit by_route("r", s, 0, registry);
  policy::RequestContext r1 = with(missing), r2 = with(missing);
  r1.route = "api";
  r2.route = "static";
  CHECK(by_route.key_hash(r1) != by_route.key_hash(r2));

  // Joined parts do not run into each other: ("ab", "c") differs from ("a", "bc").
  s.key = {{Kind::header, "x-a"}, {Kind::header, "x-b"}};
  RateLimit joined("j", s, 0, registry);
  const std::vector<http::Header> abc1{{"x-a", "ab"}, {"x-b", "c"}}, abc2{{"x-a", "a"}, {"x-b", "bc"}};
  const std::vector<http::Header> long1{{"x-a", "0123456789abcdefg"}, {"x-b", ""}};
  const std::vector<http::Header> long2{{"x-a", "0123456789abcdefh"}, {"x-b", ""}};
  CHECK(joined.key_hash(with(abc1)) != joined.key_hash(with(abc2)));
  CHECK(joined.key_hash(with(long1)) != joined.key_hash(with(long2)));
}

TEST_CASE("rate limit: a missing header is one shared bucket") {
  RateTableRegistry registry;
  config::RateLimitSpec s = spec_of(1, std::chrono::hours(1), 0);
  s.key = {{config::RateKeyPartSpec::Kind::header, "x-api-key"}};
  RateLimit l("keys", s, 0, registry);
  const std::vector<http::Header> k1{{"X-Api-Key", "k1"}}, k2{{"X-Api-Key", "k2"}}, none{};
  auto ask = [&](const std::vector<http::Header>& hs) {
    policy::RequestContext c{"GET", "/", "", "", nullptr};
    c.headers = hs;
    return l.on_request_at(c, kT0);
  };
  CHECK(ask(k1) == 0);
  CHECK(ask(k1) == 429);
  CHECK(ask(k2) == 0);
  CHECK(ask(none) == 0);
  CHECK(ask(none) == 429);
}

TEST_CASE("rate limit: RateLimit-Policy, RateLimit and Retry-After lines for a known state") {
  RateTableRegistry registry;
  const auto client = *core::parse_ip("192.0.2.9");
  policy::RequestNotes notes;
  policy::RequestContext ctx{"GET", "/", "", "", &client};
  ctx.notes = &notes;

  SECTION("10/s with burst 2: allowed, allowed, allowed, limited") {
    RateLimit l("api", spec_of(10, std::chrono::seconds(1), 2), 7, registry);
    const std::string policy = "RateLimit-Policy: \"api\";q=10;w=1\r\n";
    CHECK(l.on_request_at(ctx, kT0) == 0);
    CHECK(notes.header_lines == policy + "RateLimit: \"api\";r=2;t=1\r\n");
    REQUIRE(notes.rate_count == 1);
    CHECK(notes.rates[0].limit_id == 7);
    CHECK(notes.rates[0].decision == RateDecision::allowed);
    notes.clear();
    CHECK(l.on_request_at(ctx, kT0) == 0);
    CHECK(l.on_request_at(ctx, kT0) == 0);
    CHECK(notes.header_lines == policy + "RateLimit: \"api\";r=1;t=1\r\n" + policy + "RateLimit: \"api\";r=0;t=1\r\n");
    notes.clear();
    CHECK(l.on_request_at(ctx, kT0) == 429);
    CHECK(notes.header_lines == "Retry-After: 1\r\n" + policy + "RateLimit: \"api\";r=0;t=1\r\n");
    REQUIRE(notes.rate_count == 1);
    CHECK(notes.rates[0].decision == RateDecision::limited);
  }
  SECTION("6/m with burst 3: seconds are rounded up, and t matches Retry-After when limited") {
    RateLimit l("per-minute", spec_of(6, std::chrono::minutes(1), 3), 1, registry);
    const std::string policy = "RateLimit-Policy: \"per-minute\";q=6;w=60\r\n";
    for (int i = 0; i < 4; ++i) REQUIRE(l.on_request_at(ctx, kT0) == 0);
    CHECK(notes.header_lines.ends_with(policy + "RateLimit: \"per-minute\";r=0;t=40\r\n"));
    notes.clear();
    CHECK(l.on_request_at(ctx, kT0 + 2500 * kMs) == 429);  // next token at +10 s: 7.5 s away
    CHECK(notes.header_lines == "Retry-After: 8\r\n" + policy + "RateLimit: \"per-minute\";r=0;t=8\r\n");
    notes.clear();
    CHECK(l.on_request_at(ctx, kT0 + 10 * kSec) == 0);  // the bucket is full again at +50 s
    CHECK(notes.header_lines == policy + "RateLimit: \"per-minute\";r=0;t=40\r\n");
  }
  SECTION("dry run: nothing limited, no Retry-After, the decision recorded") {
    config::RateLimitSpec s = spec_of(1, std::chrono::hours(1), 0);
    s.dry_run = true;
    RateLimit l("dry", s, 3, registry);
    CHECK(l.on_request_at(ctx, kT0) == 0);
    notes.clear();
    CHECK(l.on_request_at(ctx, kT0 + kSec) == 0);
    CHECK(notes.header_lines == "RateLimit-Policy: \"dry\";q=1;w=3600\r\nRateLimit: \"dry\";r=0;t=3599\r\n");
    REQUIRE(notes.rate_count == 1);
    CHECK(notes.rates[0].decision == RateDecision::dry_run_limited);
  }
  SECTION("headers off: only Retry-After, and only when limited; another status") {
    config::RateLimitSpec s = spec_of(1, std::chrono::seconds(1), 0);
    s.headers = false;
    s.status = 503;
    RateLimit l("quiet", s, 0, registry);
    CHECK(l.on_request_at(ctx, kT0) == 0);
    CHECK(notes.header_lines.empty());
    CHECK(l.on_request_at(ctx, kT0 + 1) == 503);
    CHECK(notes.header_lines == "Retry-After: 1\r\n");
  }
  SECTION("over the key bound: limited with its own decision") {
    config::RateLimitSpec s = spec_of(1, std::chrono::seconds(10), 0);
    s.max_keys = 1;  // 2 cells
    RateLimit l("tiny", s, 0, registry);
    const auto a = *core::parse_ip("192.0.2.1"), b = *core::parse_ip("192.0.2.2"), c = *core::parse_ip("192.0.2.3");
    int limited = 0;
    for (const auto* ip : {&a, &b, &c}) {
      ctx.client = ip;
      notes.clear();
      if (l.on_request_at(ctx, kT0) == 429) {
        ++limited;
        CHECK(notes.rates[0].decision == RateDecision::over_key_bound);
        CHECK(notes.header_lines.starts_with("Retry-After: 10\r\n"));
      }
    }
    CHECK(limited == 1);
  }
  SECTION("two limits on one request each add their lines, in chain order") {
    policy::Chain chain;
    chain.add(std::make_shared<RateLimit>("server", spec_of(100, std::chrono::seconds(1), 5), 1, registry));
    chain.add(std::make_shared<RateLimit>("route", spec_of(1, std::chrono::seconds(1), 0), 2, registry));
    CHECK(chain.on_request(ctx) == 0);
    CHECK(notes.header_lines ==
          "RateLimit-Policy: \"server\";q=100;w=1\r\nRateLimit: \"server\";r=5;t=1\r\n"
          "RateLimit-Policy: \"route\";q=1;w=1\r\nRateLimit: \"route\";r=0;t=1\r\n");
    CHECK(notes.rate_count == 2);
    notes.clear();
    CHECK(chain.on_request(ctx) == 429);
    REQUIRE(notes.rate_count == 2);
    CHECK(notes.rates[0].decision == RateDecision::allowed);
    CHECK(notes.rates[1].decision == RateDecision::limited);
  }
  SECTION("a policy name is written as a structured-field String") {
    RateLimit l("a\"b\\c\r\n", spec_of(5, std::chrono::seconds(1), 0), 0, registry);
    CHECK(l.on_request_at(ctx, kT0) == 0);
    CHECK(notes.header_lines == "RateLimit-Policy: \"a\\\"b\\\\c??\";q=5;w=1\r\nRateLimit: \"a\\\"b\\\\c??\";r=0;t=1\r\n");
  }
  SECTION("without notes the limit still holds") {
    ctx.notes = nullptr;
    RateLimit l("bare", spec_of(1, std::chrono::seconds(1), 0), 0, registry);
    CHECK(l.on_request_at(ctx, kT0) == 0);
    CHECK(l.on_request_at(ctx, kT0) == 429);
  }
}

TEST_CASE("rate limit: on_request uses the steady clock and the process registry") {
  const auto client = *core::parse_ip("192.0.2.77");
  policy::RequestContext ctx{"GET", "/", "", "", &client};
  RateLimit a("clock-test", spec_of(1, std::chrono::hours(1), 1));
  RateLimit b("clock-test", spec_of(1, std::chrono::hours(1), 1));
  CHECK(a.table() == b.table());
  CHECK(a.on_request(ctx) == 0);
  CHECK(b.on_request(ctx) == 0);
  CHECK(a.on_request(ctx) == 429);
  CHECK(a.kind() == "rate_limit");
  CHECK(a.name() == "clock-test");
}

TEST_CASE("rate limit: header lines go into the reused notes buffer without reallocating it") {
  RateTableRegistry registry;
  config::RateLimitSpec s = spec_of(10, std::chrono::seconds(1), 3);
  s.key = {{config::RateKeyPartSpec::Kind::client_ip, ""}, {config::RateKeyPartSpec::Kind::cookie, "session"}};
  RateLimit l("api", s, 0, registry);
  const auto client = *core::parse_ip("2001:db8::5");
  const std::vector<http::Header> headers{{"Cookie", "session=0123456789abcdef0123456789abcdef"}};
  policy::RequestNotes notes;
  notes.header_lines.reserve(256);
  const char* buffer = notes.header_lines.data();
  policy::RequestContext ctx{"GET", "/", "", "", &client};
  ctx.headers = headers;
  ctx.notes = &notes;
  int limited = 0;
  for (int i = 0; i < 1000; ++i) {
    notes.clear();
    limited += l.on_request_at(ctx, kT0 + i * kMs) != 0 ? 1 : 0;
    REQUIRE(notes.header_lines.data() == buffer);
  }
  CHECK(limited == 1000 - (4 + 9));  // burst + 1, then one per 100 ms over 0.999 s
}
