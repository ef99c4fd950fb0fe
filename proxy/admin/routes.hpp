// The admin endpoints as a pure decision: (method, path) -> reply, and the reply's wire form.
// No I/O here, so the routing table is testable without sockets.
#pragma once
#include "admin/server.hpp"
#include "http/message.hpp"

#include <string>
#include <string_view>

namespace rampart::admin {

inline constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
inline constexpr std::string_view kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kYaml = "application/yaml";

struct Reply {
  int status = 200;
  std::string_view content_type = kTextPlain;  // static text
  std::string body;
  std::string_view allow;  // the Allow header of a 405 ("GET, HEAD", "POST"); empty otherwise
};

// Decides the answer to one request. `path` is the request path without the query. Calls at most
// one handler, on the caller's thread; an exception thrown by a handler becomes a 500.
Reply route(http::Method method, std::string_view path, const Handlers& handlers);

// A plain-text reply ("<text>\n").
Reply text_reply(int status, std::string_view text);

// Appends the whole response to `out`: status line, Content-Type, Content-Length, Allow (405),
// Cache-Control: no-store, Connection: close when !keep_alive, then the body unless `head_only`
// (a HEAD request: same Content-Length as GET, no body bytes).
void write_reply(const Reply& reply, bool head_only, bool keep_alive, std::string& out);

}  // namespace rampart::admin
