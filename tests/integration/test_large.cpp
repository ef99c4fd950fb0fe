// 1 GiB through the proxy each way, streamed: the proxy's peak RSS stays under 64 MiB.
#include "fixtures.hpp"

#include <catch2/catch.hpp>

namespace it {
namespace {

constexpr std::uint64_t gib = 1ull << 30;
constexpr long max_rss_kib = 64 * 1024;

// The proxy's peak RSS without its file-backed pages (the binary and its libraries, mapped from
// disk whatever the traffic: tens of MiB in a sanitizer build, about 3 MiB in Release). What the
// bound is about is memory the traffic makes it allocate.
long peak_memory_kib(pid_t pid) {
  const long hwm = rss_kib(pid, "VmHWM");
  const long file = rss_kib(pid, "RssFile");
  INFO("proxy VmHWM " << hwm << " KiB, RssFile " << file << " KiB");
  REQUIRE(hwm > 0);
  REQUIRE(file > 0);
  UNSCOPED_INFO("proxy peak RSS without file-backed pages: " << hwm - file << " KiB");
  return hwm - file;
}

}  // namespace

TEST_CASE("a 1 GiB download streams through the proxy in bounded memory") {
  Stack s;
  const std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/file?size=" + std::to_string(gib);
  auto start = Clock::now();
  CurlResult r = curl({"-o", "/dev/null", "-w", "%{http_code} %{size_download}", url}, 80);
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  INFO("curl exit " << r.exit_code << " after " << took << " s: " << r.out << " " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "200 " + std::to_string(gib));
  CHECK(peak_memory_kib(s.proxy->process().pid()) < max_rss_kib);
}

TEST_CASE("a 1 GiB upload streams through the proxy in bounded memory") {
  Stack s;
  static const std::string block = [] {
    std::string b(1 << 20, '\0');
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>((i * 131 + 7) & 0xFF);
    return b;
  }();
  const std::uint64_t blocks = gib / block.size();
  // The CRC of the whole body, computed while the body is being sent.
  std::uint32_t expected_crc = 0;
  std::thread crc_thread([&] {
    std::uint32_t crc = 0;
    for (std::uint64_t i = 0; i < blocks; ++i) crc = crc32_update(crc, block);
    expected_crc = crc;
  });

  Conn c(s.port());
  REQUIRE(c.ok());
  auto start = Clock::now();
  bool sent = c.send("POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: " + std::to_string(gib) + "\r\n\r\n");
  for (std::uint64_t i = 0; sent && i < blocks; ++i) sent = c.send(block, 10s);
  std::string send_error = c.error();
  Response r = c.read_response(30s);
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  crc_thread.join();
  INFO("send error: " << send_error << "; after " << took << " s");
  REQUIRE(sent);
  Echo e = require_echo(r);
  CHECK(e.body_bytes == gib);
  char want[9];
  std::snprintf(want, sizeof want, "%08x", expected_crc);
  CHECK(e.crc32 == want);
  CHECK(peak_memory_kib(s.proxy->process().pid()) < max_rss_kib);
}

}  // namespace it
