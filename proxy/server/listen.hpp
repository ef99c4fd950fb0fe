// Listening sockets: one per worker per listener, all bound to the same address with
// SO_REUSEPORT so the kernel spreads connections over the workers.
#pragma once
#include "core/net.hpp"

#include <cstdint>
#include <string>

namespace rampart::server {

// Opens a non-blocking listening socket on `address` (an IP literal or a resolvable name). When
// `port` is 0 the kernel picks one; the bound port is returned in `bound_port` so the other
// workers can bind the same one. Returns the fd, or -1 with `error` set.
int open_listener(const core::HostPort& address, std::uint16_t port, std::uint16_t& bound_port, std::string& error);

}  // namespace rampart::server
