#include "tls.hpp"

#include <openssl/err.h>

namespace rampart::bench {

namespace {

// The SSL ex_data slot holding a connection's tls_session_holder (the app_data slot belongs
// to Asio's stream). Allocated once per process by OpenSSL; a constant after that.
int holder_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* holder = static_cast<tls_session_holder*>(SSL_get_ex_data(ssl, holder_index()));
  if (!holder) return 0;  // OpenSSL keeps ownership
  holder->store(session);
  return 1;  // we took the reference
}

}  // namespace

std::unique_ptr<boost::asio::ssl::context> make_client_tls(bool h2, bool session_reuse) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  ctx->set_verify_mode(ssl::verify_none);
  SSL_CTX* native = ctx->native_handle();
  static const unsigned char alpn_h2[] = {2, 'h', '2'};
  static const unsigned char alpn_h1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (h2) SSL_CTX_set_alpn_protos(native, alpn_h2, sizeof alpn_h2);
  else SSL_CTX_set_alpn_protos(native, alpn_h1, sizeof alpn_h1);
  if (session_reuse) {
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(native, on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  }
  return ctx;
}

bool prepare_ssl(SSL* ssl, const std::string& sni, tls_session_holder* holder) {
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl, sni.c_str()) != 1) return false;
  if (SSL_set_ex_data(ssl, holder_index(), holder) != 1) return false;
  if (holder && holder->get() && SSL_set_session(ssl, holder->get()) != 1) return false;
  return true;
}

std::string alpn_selected(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

void mark_shutdown(SSL* ssl) { SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN); }

std::string last_openssl_error() {
  const unsigned long e = ERR_peek_last_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace rampart::bench
