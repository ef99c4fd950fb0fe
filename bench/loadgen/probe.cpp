#include "probe.hpp"

#include <chrono>
#include <memory>

#include "tls.hpp"

namespace rampart::bench {

namespace {

// Tries one endpoint; sets `error` on failure.
// `ep` by value: a coroutine keeps only a reference to a by-reference argument, and callers pass
// temporaries.
asio::awaitable<bool> try_endpoint(const run_plan& plan, tcp::endpoint ep, std::string& error) {
  const auto ex = co_await asio::this_coro::executor;
  if (!plan.tls) {
    tcp::socket sock(ex);
    auto [ec] = co_await sock.async_connect(ep, use_nothrow);
    if (ec) error = "cannot connect to " + ep.address().to_string() + ":" + std::to_string(ep.port()) + ": " + ec.message();
    co_return !ec;
  }
  asio::ssl::stream<tcp::socket> stream(ex, *plan.tls);
  if (!prepare_ssl(stream.native_handle(), plan.sni, nullptr)) {
    error = "cannot set up TLS: " + last_openssl_error();
    co_return false;
  }
  auto [ec] = co_await stream.next_layer().async_connect(ep, use_nothrow);
  if (ec) {
    error = "cannot connect to " + ep.address().to_string() + ":" + std::to_string(ep.port()) + ": " + ec.message();
    co_return false;
  }
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, use_nothrow);
  if (hec) {
    error = "TLS handshake with " + ep.address().to_string() + ":" + std::to_string(ep.port()) + " failed: " + hec.message();
    if (plan.opts->h2) error += " (--h2 offers only ALPN \"h2\": does the server speak HTTP/2 there?)";
    co_return false;
  }
  if (plan.opts->h2) {
    const std::string alpn = alpn_selected(stream.native_handle());
    if (alpn != "h2") {
      error = "the server did not select HTTP/2 via ALPN (selected: " + (alpn.empty() ? std::string("none") : "'" + alpn + "'") + ")";
      co_return false;
    }
  }
  mark_shutdown(stream.native_handle());
  co_return true;
}

}  // namespace

bool probe_target(run_plan& plan, std::string& error) {
  const options& opts = *plan.opts;
  boost::system::error_code ec;
  asio::io_context resolve_ioc(1);
  tcp::resolver resolver(resolve_ioc);
  const auto results = resolver.resolve(opts.target.host, std::to_string(opts.target.port), ec);
  if (ec || results.empty()) {
    error = "cannot resolve '" + opts.target.host + "': " + (ec ? ec.message() : std::string("no addresses"));
    return false;
  }
  for (const auto& entry : results) {
    // A fresh io_context per attempt: an attempt cut off by the timeout dies with it.
    struct attempt {
      bool ok = false;
      bool done = false;
      std::string why;
    };
    auto state = std::make_shared<attempt>();
    {
      asio::io_context ioc(1);
      asio::co_spawn(ioc, try_endpoint(plan, entry.endpoint(), state->why), [state](std::exception_ptr e, bool r) {
        state->ok = !e && r;
        state->done = true;
      });
      ioc.run_for(std::chrono::nanoseconds(opts.timeout_ns));
    }
    if (!state->done) state->why = "no answer from " + entry.endpoint().address().to_string() + " within the timeout";
    if (state->ok) {
      plan.endpoint = entry.endpoint();
      return true;
    }
    error = state->why;
  }
  return false;
}

}  // namespace rampart::bench
