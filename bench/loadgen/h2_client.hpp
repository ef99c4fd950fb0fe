// The HTTP/2 client of one connection slot: TLS with ALPN "h2", an nghttp2 client session
// fed through mem_send/mem_recv, and up to --streams requests in flight. A reader coroutine
// feeds received bytes to nghttp2; a writer coroutine flushes what nghttp2 has to send and,
// in open loop, submits requests when they fall due. Reconnects when the connection ends.
#pragma once

#include "client_env.hpp"

namespace rampart::bench {

// Runs until env.stopping. `s` and `env` must outlive the coroutine.
asio::awaitable<void> run_h2(client_env& env, slot& s);

}  // namespace rampart::bench
