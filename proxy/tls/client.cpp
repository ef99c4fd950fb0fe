#include "tls/client.hpp"

#include "core/net.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

namespace rampart::tls {

namespace {

std::string last_openssl_error() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

bool is_ip(const std::string& host) { return core::parse_ip(host).has_value(); }

}  // namespace

int ClientContext::key_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

ClientContext::~ClientContext() {
  for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

std::shared_ptr<const ClientContext> ClientContext::build(const config::UpstreamTlsSpec& spec,
                                                          std::size_t upstream_index,
                                                          std::vector<config::Diagnostic>& diagnostics) {
  const std::string base = "upstreams[" + std::to_string(upstream_index) + "].tls";
  auto fail = [&](const config::Mark& mark, const std::string& path, std::string message) {
    diagnostics.push_back({mark, std::move(message), path});
    return nullptr;
  };
  ERR_clear_error();
  std::shared_ptr<ClientContext> c(new ClientContext());
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!c->ctx_) return fail(spec.mark, base, "cannot create a TLS context: " + last_openssl_error());
  SSL_CTX* ctx = c->ctx_;
  c->verify_ = spec.verify;
  c->server_name_ = spec.server_name.value_or("");

  SSL_CTX_set_min_proto_version(ctx, spec.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, spec.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  if (spec.ca) {
    if (std::FILE* f = std::fopen(spec.ca->c_str(), "rb")) {
      std::fclose(f);
    } else {
      const int err = errno;
      return fail(spec.ca_mark.line ? spec.ca_mark : spec.mark, base + ".ca",
                  "cannot read CA bundle " + *spec.ca + ": " + std::strerror(err));
    }
    if (SSL_CTX_load_verify_locations(ctx, spec.ca->c_str(), nullptr) != 1)
      return fail(spec.ca_mark.line ? spec.ca_mark : spec.mark, base + ".ca",
                  "cannot read CA bundle " + *spec.ca + ": " + last_openssl_error());
  } else if (spec.verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return fail(spec.mark, base, "cannot load the system's CA store: " + last_openssl_error());
  }
  if (!spec.alpn.empty()) {
    std::vector<unsigned char> wire;
    for (const auto& p : spec.alpn) {
      wire.push_back(static_cast<unsigned char>(p.size()));
      wire.insert(wire.end(), p.begin(), p.end());
    }
    if (SSL_CTX_set_alpn_protos(ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0)  // 0 = success
      return fail(spec.mark, base + ".alpn", "cannot set ALPN: " + last_openssl_error());
  }
  if (spec.client_cert) {
    const auto& cs = *spec.client_cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cs.cert.c_str()) != 1)
      return fail(cs.mark, base + ".client_cert.cert", "cannot read certificate chain " + cs.cert + ": " + last_openssl_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, cs.key.c_str(), SSL_FILETYPE_PEM) != 1)
      return fail(cs.mark, base + ".client_cert.key", "cannot read private key " + cs.key + ": " + last_openssl_error());
    if (SSL_CTX_check_private_key(ctx) != 1)
      return fail(cs.mark, base + ".client_cert.key", "private key " + cs.key + " does not match certificate " + cs.cert);
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &ClientContext::on_new_session);
  SSL_CTX_set_app_data(ctx, c.get());

  std::string settings = spec.ca.value_or("-") + "|" + c->server_name_ + "|" + (spec.verify ? "v" : "n") + "|" +
                         spec.min_version + "|";
  for (const auto& p : spec.alpn) settings += p + ",";
  if (spec.client_cert) settings += "|" + spec.client_cert->cert + "|" + spec.client_cert->key;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(settings));
  c->key_suffix_ = "tls:" + (c->server_name_.empty() ? std::string("-") : c->server_name_) + ":" + hash;
  return c;
}

SSL* ClientContext::new_ssl(const std::string& host, const std::string* session_key) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  const std::string& name = server_name_.empty() ? host : server_name_;
  const bool ip = is_ip(name);
  bool ok = true;
  if (!ip) ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  if (ok && verify_) {
    if (ip) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, name.c_str()) == 1;
    }
  }
  if (ok && session_key) {
    SSL_set_ex_data(ssl, key_index(), const_cast<std::string*>(session_key));
    std::lock_guard lock(mu_);
    auto it = sessions_.find(*session_key);
    if (it != sessions_.end()) SSL_set_session(ssl, it->second);  // takes its own reference
  }
  if (!ok) {
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

// OpenSSL hands over a new session (after the handshake in TLS 1.2, with each ticket in TLS 1.3).
int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_index()));
  const auto* self = static_cast<const ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!key || !self || !SSL_SESSION_is_resumable(session)) return 0;  // not kept: OpenSSL frees it
  std::lock_guard lock(self->mu_);
  auto [it, fresh] = self->sessions_.try_emplace(*key, session);
  if (!fresh) {
    SSL_SESSION_free(it->second);
    it->second = session;
  }
  return 1;  // the reference is ours now
}

std::string ClientContext::failure_reason(SSL* ssl, const boost::system::error_code& ec) {
  if (ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) return std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
  }
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    return std::string("handshake failed: ") + (reason ? reason : "unknown TLS error");
  }
  if (ec == boost::asio::error::eof) return "handshake failed: connection closed by the upstream";
  return "handshake failed: " + ec.message();
}

bool ClientContext::first_failure(const std::string& reason) const {
  std::lock_guard lock(mu_);
  if (failures_logged_.size() >= 64) return false;  // bounded: a misbehaving upstream cannot grow it
  return failures_logged_.insert(reason).second;
}

}  // namespace rampart::tls
