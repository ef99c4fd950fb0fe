// `rampart healthcheck`: exit codes and reasons against the stub admin server, a closed port and a
// server that accepts but never answers.
#include "client.hpp"
#include "stub.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

using namespace rampart;
using namespace rampart::admin;
using namespace rampart::admin::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Runs healthcheck(url) with stderr captured; returns the exit code.
int run(const std::string& url, std::string& stderr_text) {
  char path[] = "/tmp/rampart-healthcheck-XXXXXX";
  const int tmp = ::mkstemp(path);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(tmp, 2);
  const int rc = healthcheck(url);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(tmp);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  stderr_text = ss.str();
  ::unlink(path);
  return rc;
}

// A listening socket on an ephemeral loopback port; never accepts, so connects succeed (backlog)
// and requests are never answered.
struct SilentListener {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::uint16_t port = 0;
  SilentListener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd); }
};

std::string url(std::uint16_t port, const char* path) { return "http://127.0.0.1:" + std::to_string(port) + path; }

}  // namespace

TEST_CASE("healthcheck exits 0 for 2xx and 1 with the status otherwise", "[admin][healthcheck]") {
  Stub stub;
  auto server = start_server(stub);
  std::string err;
  CHECK(run(url(server->port(), "/readyz"), err) == 0);
  CHECK(err.empty());
  stub.ready = false;
  CHECK(run(url(server->port(), "/readyz"), err) == 1);
  CHECK(err.find("status 503") != std::string::npos);
  CHECK(run(url(server->port(), "/livez"), err) == 0);  // the path is used
  CHECK(run(url(server->port(), "/readyz?x=1"), err) == 1);
  CHECK(run(url(server->port(), "/missing"), err) == 1);
  CHECK(err.find("status 404") != std::string::npos);
  CHECK(run("http://localhost:" + std::to_string(server->port()) + "/livez", err) == 0);
}

TEST_CASE("healthcheck fails on a closed port with 'connection refused'", "[admin][healthcheck]") {
  std::uint16_t port = 0;
  {
    SilentListener l;  // take a free port, then give it back
    port = l.port;
  }
  std::string err;
  CHECK(run(url(port, "/readyz"), err) == 1);
  CHECK(err.find("connection refused") != std::string::npos);
}

TEST_CASE("healthcheck gives up on a server that never answers within its 2 s timeout", "[admin][healthcheck]") {
  SilentListener l;
  std::string err;
  const auto t0 = Clock::now();
  CHECK(run(url(l.port, "/readyz"), err) == 1);
  const auto took = Clock::now() - t0;
  CHECK(took >= 1900ms);
  CHECK(took < 3500ms);
  CHECK(err.find("timeout") != std::string::npos);
}

TEST_CASE("healthcheck rejects URLs it cannot use", "[admin][healthcheck]") {
  std::string err;
  CHECK(run("https://127.0.0.1:9901/readyz", err) == 1);
  CHECK(err.find("only http://") != std::string::npos);
  CHECK(run("127.0.0.1:9901/readyz", err) == 1);
  CHECK(run("http://127.0.0.1:99999/readyz", err) == 1);
  CHECK(err.find("port") != std::string::npos);
  CHECK(run("http:///readyz", err) == 1);
  CHECK(run("http://user@127.0.0.1:1/", err) == 1);
}
