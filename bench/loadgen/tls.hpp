// TLS client setup of rampart-bench: one SSL_CTX for the run (shared by all threads, no
// verification), SNI, ALPN, and session resumption per connection slot.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

namespace rampart::bench {

// The session a connection slot resumes with. Written by OpenSSL's new-session callback on
// the slot's thread whenever the server issues a session or ticket; owns one reference.
class tls_session_holder {
 public:
  tls_session_holder() = default;
  tls_session_holder(const tls_session_holder&) = delete;
  tls_session_holder& operator=(const tls_session_holder&) = delete;
  ~tls_session_holder() { store(nullptr); }

  SSL_SESSION* get() const { return session_; }
  // Takes ownership of one reference of `s` (may be null), releasing the previous one.
  void store(SSL_SESSION* s) {
    if (session_) SSL_SESSION_free(session_);
    session_ = s;
  }

 private:
  SSL_SESSION* session_ = nullptr;
};

// A client context: peer verification off, ALPN "h2" or "http/1.1". With `session_reuse`
// new sessions are handed to the tls_session_holder attached by prepare_ssl(); without it
// the session cache is off and SSL_OP_NO_TICKET is set, so every handshake is a full one.
// Throws on OpenSSL failure (start-up only).
std::unique_ptr<boost::asio::ssl::context> make_client_tls(bool h2, bool session_reuse);

// Readies a fresh SSL for a connection: SNI `sni` (none when empty) and, when `holder` is
// not null, resumption with its stored session and storage of the next one into it.
// `holder` must outlive the SSL. Returns false when OpenSSL refuses.
bool prepare_ssl(SSL* ssl, const std::string& sni, tls_session_holder* holder);

// The ALPN protocol the server selected ("" when none).
std::string alpn_selected(SSL* ssl);

// Before closing a TLS connection without close_notify: marks it shut down so OpenSSL does
// not invalidate its session (which it does for connections that end without shutdown).
void mark_shutdown(SSL* ssl);

// The newest OpenSSL error text of the calling thread, for start-up messages.
std::string last_openssl_error();

}  // namespace rampart::bench
