#include "admin/routes.hpp"

#include <exception>

namespace rampart::admin {
namespace {

constexpr std::string_view kAllowGet = "GET, HEAD";
constexpr std::string_view kAllowPost = "POST";

bool is_get(http::Method m) { return m == http::Method::get || m == http::Method::head; }

Reply method_not_allowed(std::string_view allow) {
  Reply r = text_reply(405, "method not allowed");
  r.allow = allow;
  return r;
}

Reply not_found() { return text_reply(404, "not found"); }

Reply body_reply(std::string body, std::string_view content_type) {
  Reply r;
  r.content_type = content_type;
  r.body = std::move(body);
  return r;
}

Reply readiness(const Handlers& h) {
  if (!h.ready) return not_found();
  return h.ready() ? text_reply(200, "ready") : text_reply(503, "not ready");
}

Reply reload(const Handlers& h) {
  if (!h.reload) return not_found();
  std::string message;
  const bool ok = h.reload(message);
  if (!message.empty() && message.back() == '\n') message.pop_back();
  return text_reply(ok ? 200 : 500, message);
}

Reply dispatch(http::Method method, std::string_view path, const Handlers& h) {
  if (path == "/-/reload") return method == http::Method::post ? reload(h) : method_not_allowed(kAllowPost);
  const bool known = path == "/livez" || path == "/readyz" || path == "/healthz" || path == "/metrics" ||
                     path == "/config" || path == "/upstreams";
  if (!known) return not_found();
  if (!is_get(method)) return method_not_allowed(kAllowGet);
  if (path == "/livez") return text_reply(200, "alive");
  if (path == "/readyz" || path == "/healthz") return readiness(h);
  if (path == "/metrics") return h.metrics ? body_reply(h.metrics(), kPrometheusText) : not_found();
  if (path == "/config") return h.config_yaml ? body_reply(h.config_yaml(), kYaml) : not_found();
  return h.upstreams_json ? body_reply(h.upstreams_json(), kJson) : not_found();
}

}  // namespace

Reply text_reply(int status, std::string_view text) {
  Reply r;
  r.status = status;
  r.body.reserve(text.size() + 1);
  r.body.append(text).push_back('\n');
  return r;
}

Reply route(http::Method method, std::string_view path, const Handlers& handlers) {
  try {
    return dispatch(method, path, handlers);
  } catch (const std::exception& e) {
    return text_reply(500, std::string("handler failed: ") + e.what());
  } catch (...) {
    return text_reply(500, "handler failed");
  }
}

void write_reply(const Reply& reply, bool head_only, bool keep_alive, std::string& out) {
  out.append("HTTP/1.1 ").append(std::to_string(reply.status)).push_back(' ');
  out.append(http::reason_phrase(reply.status)).append("\r\n");
  out.append("Content-Type: ").append(reply.content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(reply.body.size())).append("\r\n");
  if (!reply.allow.empty()) out.append("Allow: ").append(reply.allow).append("\r\n");
  out.append("Cache-Control: no-store\r\n");
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
  if (!head_only) out.append(reply.body);
}

}  // namespace rampart::admin
