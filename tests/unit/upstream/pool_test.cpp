#include "upstream/pool.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using namespace rampart::upstream;
using namespace std::chrono_literals;

namespace {
ConnectionPtr make(boost::asio::io_context& ioc, Pool& pool, const std::string& key, std::uint32_t requests = 1) {
  auto c = std::make_unique<Connection>(boost::asio::ip::tcp::socket(ioc), nullptr);
  c->key = pool.intern(key);
  c->requests = requests;
  return c;
}
}  // namespace

TEST_CASE("pool hands back the most recently returned connection for the same key") {
  boost::asio::io_context ioc;
  Pool pool;
  auto now = Clock::now();
  auto a = make(ioc, pool, "u|127.0.0.1:1");
  auto b = make(ioc, pool, "u|127.0.0.1:1");
  Connection* b_raw = b.get();
  pool.give_back(std::move(a), {}, now);
  pool.give_back(std::move(b), {}, now);
  CHECK(pool.idle_count() == 2);
  auto got = pool.take("u|127.0.0.1:1", now);
  REQUIRE(got);
  CHECK(got.get() == b_raw);
  CHECK(got->reused);
  CHECK(pool.take("u|127.0.0.1:2", now) == nullptr);
  CHECK(pool.idle_count() == 1);
}

TEST_CASE("pool keeps at most max_idle and closes connections that served max_requests") {
  boost::asio::io_context ioc;
  Pool pool;
  auto now = Clock::now();
  PoolLimits limits{2, 60s, 10, std::nullopt};
  for (int i = 0; i < 5; ++i) pool.give_back(make(ioc, pool, "k"), limits, now);
  CHECK(pool.idle_count() == 2);
  pool.give_back(make(ioc, pool, "k2", 10), limits, now);
  CHECK(pool.take("k2", now) == nullptr);
}

TEST_CASE("pool expires idle connections after their idle timeout, at take and at expire") {
  boost::asio::io_context ioc;
  Pool pool;
  auto t0 = Clock::now();
  PoolLimits limits{8, 1s, 100, std::nullopt};
  pool.give_back(make(ioc, pool, "k"), limits, t0);
  CHECK(pool.take("k", t0 + 2s) == nullptr);
  pool.give_back(make(ioc, pool, "k"), limits, t0);
  pool.give_back(make(ioc, pool, "k"), limits, t0 + 900ms);
  pool.expire(t0 + 1500ms);
  CHECK(pool.idle_count() == 1);
  pool.expire(t0 + 3s);
  CHECK(pool.idle_count() == 0);
}

TEST_CASE("pool retain drops idle connections of keys that left the config and keeps the rest") {
  boost::asio::io_context ioc;
  Pool pool;
  auto now = Clock::now();
  pool.give_back(make(ioc, pool, "a|1"), {}, now);
  pool.give_back(make(ioc, pool, "b|1"), {}, now);
  pool.retain({"a|1"});
  CHECK(pool.take("b|1", now) == nullptr);
  CHECK(pool.take("a|1", now) != nullptr);
}

TEST_CASE("pool closes instead of pooling a connection older than max_lifetime") {
  boost::asio::io_context ioc;
  Pool pool;
  auto t0 = Clock::now();
  PoolLimits limits{8, 60s, 100, std::chrono::milliseconds(500)};
  auto young = make(ioc, pool, "k");
  young->created = t0;
  pool.give_back(std::move(young), limits, t0 + 400ms);
  CHECK(pool.idle_count("k") == 1);
  auto old = make(ioc, pool, "k");
  old->created = t0;
  pool.give_back(std::move(old), limits, t0 + 500ms);
  CHECK(pool.idle_count("k") == 1);
}
