// The check before a run: resolve the URL's host and open one connection (TLS handshake and,
// with --h2, ALPN "h2" included) within --timeout, so a target that cannot work at all is
// reported clearly (exit 1) instead of as a run full of errors.
#pragma once

#include <string>

#include "client_env.hpp"

namespace rampart::bench {

// Fills plan.endpoint with the first resolved address that accepts a connection. Returns
// false with the reason in `error`. Uses plan.opts, plan.tls and plan.sni.
bool probe_target(run_plan& plan, std::string& error);

}  // namespace rampart::bench
