// The HTTP/1.1 client of one connection slot: sends the prebuilt request, reads the response
// with response_reader, records latency and status, and reconnects when the connection ends
// (Connection: close, --new-conn, errors, timeouts). Closed loop: the next request goes out
// as soon as the previous response is in, latency measured from the send (from the connect
// with --new-conn). Open loop: requests are due on the slot's pacer; a late slot sends them
// back to back and latency runs from the due time.
#pragma once

#include "client_env.hpp"

namespace rampart::bench {

// Runs until env.stopping. `s` and `env` must outlive the coroutine.
asio::awaitable<void> run_h1_plain(client_env& env, slot& s);
asio::awaitable<void> run_h1_tls(client_env& env, slot& s);

}  // namespace rampart::bench
