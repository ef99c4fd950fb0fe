// Route: the per-route rewrites (upstream target, redirect Location).
#include "route/table.hpp"

namespace rampart::route {

namespace {

// Appends `head` + `tail`, joining them with exactly one '/' when `head` ends in '/' and `tail`
// starts with one (so rewriting "/api" to "/" turns "/api/x" into "/x", not "//x"), and makes
// sure the result starts with '/'.
void append_joined(std::string_view head, std::string_view tail, std::string& out) {
  if (!head.empty() && head.back() == '/' && !tail.empty() && tail.front() == '/') tail.remove_prefix(1);
  if ((head.empty() ? tail : head).substr(0, 1) != "/") out += '/';
  out += head;
  out += tail;
}

}  // namespace

void Route::upstream_target(std::string_view req_path, std::string_view query, std::string& out) const {
  if (rewrite_prefix && match != config::PathMatch::regex && req_path.starts_with(path)) {
    append_joined(*rewrite_prefix, req_path.substr(path.size()), out);
  } else {
    out += req_path;
  }
  if (!query.empty()) {
    out += '?';
    out += query;
  }
}

std::string Route::redirect_location(std::string_view scheme, std::string_view host, std::string_view req_path,
                                     std::string_view query) const {
  std::string out;
  std::string_view use_scheme = redirect.scheme ? std::string_view(*redirect.scheme) : scheme;
  std::string_view use_host = redirect.host ? std::string_view(*redirect.host) : host;
  // Without any host the Location is relative (RFC 9110 §10.2.2 allows a URI reference).
  if (!use_host.empty()) {
    out += use_scheme;
    out += "://";
    out += use_host;
  }
  if (redirect.path) {
    append_joined(*redirect.path, {}, out);
  } else if (redirect.prefix && match == config::PathMatch::prefix && req_path.starts_with(path)) {
    append_joined(*redirect.prefix, req_path.substr(path.size()), out);
  } else {
    append_joined(req_path, {}, out);
  }
  if (!redirect.strip_query && !query.empty()) {
    out += '?';
    out += query;
  }
  return out;
}

}  // namespace rampart::route
