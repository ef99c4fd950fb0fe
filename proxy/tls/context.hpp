// TLS termination: a listener's compiled TLS configuration (OpenSSL 3).
//
// A ServerContext holds one SSL_CTX per group of certificates that share the same names, and the
// SNI map from names (exact, then wildcard "*.example.com") to those contexts; the first
// certificate's context is the default. Certificates of different key types for the same names
// (ECDSA and RSA) live in the same SSL_CTX, and OpenSSL serves the one the client can verify.
// A certificate may carry an OCSP response (read from its file at build time), stapled when the
// client asks (status_request) and that certificate is the one served.
//
// Built once per snapshot on the control thread; shared read-only by every worker (SSL_new and
// the SNI switch take their own references to an SSL_CTX, so a connection outlives its snapshot).
// Session tickets are encrypted with TicketKeys shared by every context of the listener and kept
// across reloads, so a reload or another worker never breaks resumption.
#pragma once
#include "config/spec.hpp"

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rampart::tls {

// Session-ticket keys of one listener: the current key encrypts new tickets; the previous ones
// still decrypt (and the ticket is renewed). Thread-safe: handshakes on any worker read them,
// the control thread rotates or replaces them.
class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> hmac;
    std::array<unsigned char, 32> aes;
  };
  // Starts with one random key.
  TicketKeys();
  // A new random current key; the old current one is kept for decryption (at most `keep` keys).
  void rotate(std::size_t keep = 2);
  // Replaces the keys with those of a file: a multiple of 80 bytes, each 16 name + 32 HMAC +
  // 32 AES bytes; the first encrypts. Returns false (keys unchanged) with `error` set on failure.
  bool load_file(const std::string& path, std::string& error);
  bool from_file() const;

  // OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb) finds the keys here.
  int on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);

 private:
  mutable std::mutex mu_;
  std::vector<Key> keys_;  // [0] encrypts
  bool from_file_ = false;
};

// TicketKeys by listener name, kept by the control thread across reloads.
class TicketRegistry {
 public:
  std::shared_ptr<TicketKeys> for_listener(const std::string& listener);
  // Rotates every generated (not file-based) key set; control thread, on its schedule.
  void rotate_generated();
  void collect();  // forgets listeners no snapshot uses any more

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<TicketKeys>> keys_;
};

// Why a handshake failed, for metrics ("reason" label) and logs.
enum class HandshakeFailure : std::uint8_t {
  timeout,           // client_header_timeout passed during the handshake
  closed,            // the client closed or reset the connection
  http_request,      // plain HTTP sent to a TLS listener
  protocol_version,  // no TLS version in common (e.g. a TLS 1.0 client)
  no_shared_cipher,  // no cipher suite or group in common
  client_certificate,  // mTLS: missing, unverifiable or rejected client certificate
  other,
};
constexpr std::size_t kHandshakeFailures = 7;
std::string_view failure_name(HandshakeFailure f);
// Classifies a failed handshake from OpenSSL's error (the asio error's value when its category is
// the SSL one) or the socket error.
HandshakeFailure classify_failure(unsigned long ssl_error, bool socket_closed, bool timed_out);

class ServerContext {
 public:
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Compiles `spec` for listener `listener_index` (diagnostic paths "listeners[i].tls..."). Checks
  // every certificate: readable, a private key that matches it, valid now (not expired, not yet
  // valid), and at most one per key type for the same names; and each OCSP response: a
  // successful one with a single response for that certificate (its issuer must follow it in the
  // cert file), status good, not past its nextUpdate. Returns nullptr with diagnostics on failure.
  static std::shared_ptr<const ServerContext> build(const config::TlsSpec& spec, std::size_t listener_index,
                                                    std::shared_ptr<TicketKeys> keys,
                                                    std::vector<config::Diagnostic>& diagnostics);

  // A new server-side SSL for one connection (the default context; SNI may switch it). Owned by
  // the caller (asio::ssl::stream takes it).
  SSL* new_ssl() const;

  // The names each context answers for (tests, /config).
  std::vector<std::string> names() const;
  // mTLS: the header that carries a verified client certificate's subject upstream; empty when
  // the listener asks for no client certificate.
  const std::string& client_subject_header() const { return client_subject_header_; }
  // The subject (RFC 2253) of the client certificate `ssl` verified, or "".
  static std::string verified_subject(SSL* ssl);

 private:
  ServerContext() = default;
  static int on_servername(SSL* ssl, int* alert, void* arg);
  SSL_CTX* lookup(std::string_view server_name) const;

  std::vector<SSL_CTX*> contexts_;                      // owned; [0] is the default
  std::unordered_map<std::string, SSL_CTX*> exact_;     // lower-case name -> context
  std::unordered_map<std::string, SSL_CTX*> wildcard_;  // "example.com" for "*.example.com"
  std::shared_ptr<TicketKeys> keys_;
  std::vector<unsigned char> alpn_;                     // wire format, in preference order
  std::string client_subject_header_;
};

}  // namespace rampart::tls
