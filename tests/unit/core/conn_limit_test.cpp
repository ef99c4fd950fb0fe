// ConnectionLimiter: the per-IP cap, release, a full table, and many threads at once.
#include "core/conn_limit.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

using rampart::core::ConnectionLimiter;
using rampart::core::IpAddress;
using rampart::core::parse_ip;

namespace {

IpAddress ip(const char* text) { return *parse_ip(text); }

IpAddress v4(std::uint32_t n) { return rampart::core::ip_from_v4(0x0a000000u + n); }

}  // namespace

TEST_CASE("conn limit: at most per_ip connections per address, released ones come back") {
  ConnectionLimiter limiter(2);
  const IpAddress a = ip("192.0.2.1"), b = ip("2001:db8::1");
  CHECK(limiter.try_acquire(a));
  CHECK(limiter.try_acquire(a));
  CHECK(limiter.admit(a) == ConnectionLimiter::Admit::over_limit);
  CHECK(limiter.count(a) == 2);
  CHECK(limiter.try_acquire(b));  // another address is independent
  CHECK(limiter.count(b) == 1);
  limiter.release(a);
  CHECK(limiter.count(a) == 1);
  CHECK(limiter.try_acquire(a));
  CHECK_FALSE(limiter.try_acquire(a));
  limiter.release(a);
  limiter.release(a);
  limiter.release(b);
  CHECK(limiter.count(a) == 0);
  CHECK(limiter.count(b) == 0);
  CHECK(limiter.count(ip("198.51.100.7")) == 0);
}

TEST_CASE("conn limit: a full table refuses new addresses, and takes them again once slots free up") {
  // 16 slots, all in every address's window: 16 addresses fit, the 17th does not.
  ConnectionLimiter limiter(1, 16);
  REQUIRE(limiter.capacity() == 16);
  for (std::uint32_t i = 0; i < 16; ++i) REQUIRE(limiter.try_acquire(v4(i)));
  CHECK(limiter.admit(v4(16)) == ConnectionLimiter::Admit::table_full);
  CHECK(limiter.admit(v4(3)) == ConnectionLimiter::Admit::over_limit);  // known address: its own limit
  limiter.release(v4(3));
  CHECK(limiter.admit(v4(16)) == ConnectionLimiter::Admit::ok);  // the freed slot is reused
  CHECK(limiter.admit(v4(3)) == ConnectionLimiter::Admit::table_full);
  CHECK(limiter.count(v4(16)) == 1);
  for (std::uint32_t i = 0; i < 17; ++i)
    if (i != 3) limiter.release(v4(i));
  for (std::uint32_t i = 0; i < 17; ++i) CHECK(limiter.count(v4(i)) == 0);
}

TEST_CASE("conn limit: threads hammering acquire and release never hold more than the cap") {
  // A small table (every address in one window of 16 slots) and addresses coming and going, so
  // slots are freed and reused all the time and first connections of an address race often.
  constexpr std::uint32_t kPerIp = 2;
  constexpr int kThreads = 4, kRounds = 50000, kAddresses = 12;
  ConnectionLimiter limiter(kPerIp, 16);
  std::array<std::atomic<int>, kAddresses> held{};  // connections the threads hold, per address
  std::atomic<bool> over{false};
  std::atomic<long> admitted{0}, full{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> mine;
      for (int i = 0; i < kRounds; ++i) {
        const int n = (i * 7 + t * 5) % kAddresses;
        switch (limiter.admit(v4(static_cast<std::uint32_t>(n)))) {
          case ConnectionLimiter::Admit::ok:
            ++admitted;
            if (++held[n] > static_cast<int>(kPerIp)) over = true;
            mine.push_back(n);
            break;
          case ConnectionLimiter::Admit::table_full: ++full; break;
          case ConnectionLimiter::Admit::over_limit: break;
        }
        if (mine.size() > 2 || (i % 3 == 0 && !mine.empty())) {
          --held[mine.front()];
          limiter.release(v4(static_cast<std::uint32_t>(mine.front())));
          mine.erase(mine.begin());
        }
      }
      for (int n : mine) {
        --held[n];
        limiter.release(v4(static_cast<std::uint32_t>(n)));
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_FALSE(over);
  CHECK(admitted > kRounds);  // the cap did not refuse everything
  CHECK(full == 0);           // 12 addresses always fit in 16 slots
  for (int i = 0; i < kAddresses; ++i) CHECK(limiter.count(v4(static_cast<std::uint32_t>(i))) == 0);
}

TEST_CASE("conn limit: concurrent first connections of one address never exceed the cap once settled") {
  // Many threads race to create the slot of a fresh address and hold what they got; the settled
  // count is exactly the cap, whatever the interleaving.
  for (int round = 0; round < 200; ++round) {
    ConnectionLimiter limiter(2, 64);
    const IpAddress a = v4(static_cast<std::uint32_t>(1000 + round));
    std::atomic<int> got{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        while (!go) std::this_thread::yield();
        if (limiter.try_acquire(a)) ++got;
      });
    go = true;
    for (auto& th : threads) th.join();
    REQUIRE(got == 2);
    REQUIRE(limiter.count(a) == 2);
  }
}
