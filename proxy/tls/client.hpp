// TLS to upstreams: one pool's compiled client configuration (OpenSSL 3).
//
// A ClientContext holds the pool's SSL_CTX (trust store, minimum version, ALPN, client
// certificate) and what each connection gets on top of it: SNI and the name or IP address its
// certificate must carry. Built once per snapshot on the control thread; then shared read-only
// by every worker and the health checker. A connection keeps its context alive (shared_ptr), so
// it may outlive the snapshot that opened it.
//
// Session resumption: sessions the upstream hands out are kept per connection key (the worker
// pool's key of the endpoint) and offered on the next connection with the same key; the cache is
// shared by the workers (a mutex taken once per new connection and per new session, never per
// request).
#pragma once
#include "config/spec.hpp"

#include <boost/system/error_code.hpp>

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace rampart::tls {

class ClientContext {
 public:
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Compiles `spec` for upstream `upstream_index` (diagnostic paths "upstreams[i].tls..."):
  // reads the CA bundle (or the system store) and the client certificate and key (which must
  // match). Returns nullptr with diagnostics on failure.
  static std::shared_ptr<const ClientContext> build(const config::UpstreamTlsSpec& spec, std::size_t upstream_index,
                                                    std::vector<config::Diagnostic>& diagnostics);

  // A new client SSL for a connection to `host` (the endpoint as configured: a DNS name or an IP
  // literal), owned by the caller (tls::Stream takes it). SNI is server_name, else `host` when it
  // is a name; the certificate must match server_name, else `host` (an IP against its IP SANs).
  // `session_key` (may be null; must outlive the SSL) names the session cache slot: a cached
  // session is offered, and new ones from this connection are kept there. nullptr when OpenSSL
  // cannot allocate.
  SSL* new_ssl(const std::string& host, const std::string* session_key) const;

  // A short, stable description of why a client handshake on `ssl` failed with `ec` (the
  // certificate verification result when that failed, else OpenSSL's reason, else the socket's).
  static std::string failure_reason(SSL* ssl, const boost::system::error_code& ec);
  // True the first time `reason` is seen by this context (log once per reason). Any thread.
  bool first_failure(const std::string& reason) const;

  // What distinguishes connections made with this context from others to the same address:
  // appended to the pool key ("tls:<server name>:<settings hash>").
  const std::string& key_suffix() const { return key_suffix_; }
  bool verifies() const { return verify_; }

 private:
  ClientContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  static int key_index();  // SSL ex_data slot of the session key

  SSL_CTX* ctx_ = nullptr;  // owned
  std::string server_name_; // empty: the endpoint's host
  bool verify_ = true;
  std::string key_suffix_;
  mutable std::mutex mu_;   // guards the two below
  mutable std::unordered_map<std::string, SSL_SESSION*> sessions_;  // owned references
  mutable std::set<std::string> failures_logged_;
};

}  // namespace rampart::tls
