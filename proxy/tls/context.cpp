#include "tls/context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>

namespace rampart::tls {
namespace {

// The SSL_CTX ex_data slot that points at the context's TicketKeys (allocated once per process:
// OpenSSL's index registry is itself process-wide).
int ticket_keys_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int ticket_callback(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                    EVP_MAC_CTX* mac, int enc) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys_index()));
  return keys ? keys->on_ticket(key_name, iv, cipher, mac, enc) : -1;
}

// The most recent OpenSSL error as text (and the queue cleared).
std::string openssl_error() {
  unsigned long e = ERR_get_error();
  unsigned long last = e;
  while (e != 0) {
    last = e;
    e = ERR_get_error();
  }
  if (last == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// DNS names of a certificate: its subjectAltName DNS entries, or its subject CN without any.
std::vector<std::string> certificate_names(X509* x) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const auto* s = g->d.dNSName;
      names.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                             static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0) names.push_back(lower(cn));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string key_type(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: return "RSA";
    case EVP_PKEY_EC: return "ECDSA";
    case EVP_PKEY_ED25519: return "Ed25519";
    default: return "other";
  }
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<X509, X509Free> read_leaf(const std::string& path, std::string& error) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    error = "cannot read certificate " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<X509, X509Free> x(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!x) error = "no PEM certificate in " + path + " (" + openssl_error() + ")";
  return x;
}

// ---------------------------------------------------------------------------------------------
// OCSP stapling

// The OCSP responses (DER) an SSL_CTX staples, one per certificate that has one. Owned by the
// SSL_CTX through its ex_data slot (freed with the last reference to the context, so a connection
// that outlives its snapshot still finds them); immutable once the context is built, read by the
// status callback on any worker.
struct Staples {
  struct Entry {
    X509* cert;  // one reference held
    std::string der;
  };
  std::vector<Entry> entries;
  Staples() = default;
  Staples(const Staples&) = delete;
  Staples& operator=(const Staples&) = delete;
  ~Staples() {
    for (Entry& e : entries) X509_free(e.cert);
  }
};

void free_staples(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<Staples*>(ptr); }

int staples_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_staples);
  return index;
}

// The SSL_CTX's Staples, created on first use.
Staples& staples_of(SSL_CTX* ctx) {
  auto* s = static_cast<Staples*>(SSL_CTX_get_ex_data(ctx, staples_index()));
  if (!s) {
    s = new Staples();
    SSL_CTX_set_ex_data(ctx, staples_index(), s);
  }
  return *s;
}

// Server side of status_request (SSL_CTX_set_tlsext_status_cb): called during a handshake whose
// client asked for a staple, after the certificate to send was chosen (SNI context, key type).
// Hands OpenSSL a copy of that certificate's response (OpenSSL frees it); no staple otherwise.
int status_callback(SSL* ssl, void*) {
  const auto* staples = static_cast<const Staples*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), staples_index()));
  X509* served = SSL_get_certificate(ssl);
  if (!staples || !served) return SSL_TLSEXT_ERR_NOACK;
  for (const Staples::Entry& e : staples->entries) {
    if (e.cert != served && X509_cmp(e.cert, served) != 0) continue;
    auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(e.der.data(), e.der.size()));
    if (!copy) return SSL_TLSEXT_ERR_NOACK;
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(e.der.size())) != 1) {
      OPENSSL_free(copy);
      return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string format_time(const ASN1_GENERALIZEDTIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable time";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct OcspResponseFree {
  void operator()(OCSP_RESPONSE* r) const { OCSP_RESPONSE_free(r); }
};
struct OcspBasicFree {
  void operator()(OCSP_BASICRESP* b) const { OCSP_BASICRESP_free(b); }
};
struct OcspIdFree {
  void operator()(OCSP_CERTID* id) const { OCSP_CERTID_free(id); }
};

// Reads the DER OCSP response at `path` and checks that it can be stapled with `leaf`, whose
// issuer is among `chain` (the other certificates of its chain file): a successful response with
// a single response for this certificate (by issuer name and key hash, and serial), status good,
// and a nextUpdate (when present) still ahead. Returns the DER bytes, or nullopt with `error` set.
std::optional<std::string> load_ocsp(const std::string& path, X509* leaf, STACK_OF(X509)* chain,
                                     const std::string& cert_path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read OCSP response " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string der((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) {
    error = "cannot read OCSP response " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<OCSP_RESPONSE, OcspResponseFree> response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!response || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    error = path + " is not a DER OCSP response";
    return std::nullopt;
  }
  const int status = OCSP_response_status(response.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    error = "OCSP response " + path + " has status " + OCSP_response_status_str(status) + ", not successful";
    return std::nullopt;
  }
  std::unique_ptr<OCSP_BASICRESP, OcspBasicFree> basic(OCSP_response_get1_basic(response.get()));
  if (!basic) {
    ERR_clear_error();
    error = "OCSP response " + path + " holds no basic response";
    return std::nullopt;
  }
  X509* issuer = nullptr;
  for (int i = 0; i < sk_X509_num(chain) && !issuer; ++i) {
    X509* candidate = sk_X509_value(chain, i);
    if (X509_check_issued(candidate, leaf) == X509_V_OK) issuer = candidate;
  }
  if (!issuer) {
    error = "ocsp needs the issuer certificate in the cert file (" + cert_path + " holds none for its first certificate)";
    return std::nullopt;
  }
  // The single response for this certificate, whatever hash its CertID was made with.
  OCSP_SINGLERESP* single = nullptr;
  for (int i = 0; i < OCSP_resp_count(basic.get()) && !single; ++i) {
    OCSP_SINGLERESP* candidate = OCSP_resp_get0(basic.get(), i);
    const OCSP_CERTID* cid = OCSP_SINGLERESP_get0_id(candidate);
    ASN1_OBJECT* md_oid = nullptr;
    if (OCSP_id_get0_info(nullptr, &md_oid, nullptr, nullptr, const_cast<OCSP_CERTID*>(cid)) != 1) continue;
    const EVP_MD* md = EVP_get_digestbyobj(md_oid);
    if (!md) continue;
    std::unique_ptr<OCSP_CERTID, OcspIdFree> ours(OCSP_cert_to_id(md, leaf, issuer));
    if (ours && OCSP_id_cmp(ours.get(), cid) == 0) single = candidate;
  }
  ERR_clear_error();
  if (!single) {
    error = "OCSP response " + path + " has no status for certificate " + cert_path;
    return std::nullopt;
  }
  int reason = 0;
  ASN1_GENERALIZEDTIME* revoked_at = nullptr;
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
  const int cert_status = OCSP_single_get0_status(single, &reason, &revoked_at, &this_update, &next_update);
  if (cert_status == V_OCSP_CERTSTATUS_REVOKED) {
    error = "OCSP response " + path + " says certificate " + cert_path + " was revoked at " + format_time(revoked_at);
    return std::nullopt;
  }
  if (cert_status != V_OCSP_CERTSTATUS_GOOD) {
    error = "OCSP response " + path + " says the status of certificate " + cert_path + " is unknown";
    return std::nullopt;
  }
  if (next_update && X509_cmp_current_time(next_update) <= 0) {
    error = "OCSP response " + path + " expired at " + format_time(next_update);
    return std::nullopt;
  }
  // A response from the future is a clock problem somewhere; five minutes of skew are allowed.
  if (this_update && X509_cmp_time(this_update, nullptr) > 0) {
    std::time_t soon = std::time(nullptr) + 300;
    if (X509_cmp_time(this_update, &soon) > 0) {
      error = "OCSP response " + path + " is not valid before " + format_time(this_update);
      return std::nullopt;
    }
  }
  return der;
}

bool configure(SSL_CTX* ctx, const config::TlsSpec& spec, std::string& error) {
  SSL_CTX_set_min_proto_version(ctx, spec.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                               SSL_OP_SINGLE_ECDH_USE);
  // Idle connections give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, spec.ciphers.c_str()) != 1) {
    error = "ciphers: no usable cipher in '" + spec.ciphers + "' (" + openssl_error() + ")";
    return false;
  }
  if (SSL_CTX_set_ciphersuites(ctx, spec.ciphersuites.c_str()) != 1) {
    error = "ciphersuites: no usable suite in '" + spec.ciphersuites + "' (" + openssl_error() + ")";
    return false;
  }
  if (SSL_CTX_set1_groups_list(ctx, spec.groups.c_str()) != 1) {
    error = "groups: unknown group in '" + spec.groups + "' (" + openssl_error() + ")";
    return false;
  }
  // One session id context for every context of the listener: a session cached or ticketed
  // under one SNI context resumes under another.
  static constexpr unsigned char sid[] = "rampart";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  if (spec.session_cache) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, spec.session_cache);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  if (spec.session_tickets) {
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback);
    SSL_CTX_set_num_tickets(ctx, 1);  // TLS 1.3: one ticket per handshake is enough for a client
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, spec.session_cache ? 1 : 0);
  }
  return true;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  const auto* ours = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, ours->data(), static_cast<unsigned>(ours->size()), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // nothing in common: go on without ALPN (HTTP/1.1)
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Ticket keys

TicketKeys::TicketKeys() { rotate(1); }

void TicketKeys::rotate(std::size_t keep) {
  Key k;
  RAND_bytes(k.name.data(), static_cast<int>(k.name.size()));
  RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size()));
  RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size()));
  std::lock_guard lock(mu_);
  keys_.insert(keys_.begin(), k);
  if (keys_.size() > std::max<std::size_t>(keep, 1)) keys_.resize(std::max<std::size_t>(keep, 1));
  from_file_ = false;
}

bool TicketKeys::load_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read ticket key file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.empty() || bytes.size() % 80 != 0) {
    error = "ticket key file " + path + " must hold one or more 80-byte keys (it has " + std::to_string(bytes.size()) +
            " bytes; make one with: openssl rand 80 > FILE)";
    return false;
  }
  std::vector<Key> keys(bytes.size() / 80);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const char* p = bytes.data() + i * 80;
    std::memcpy(keys[i].name.data(), p, 16);
    std::memcpy(keys[i].hmac.data(), p + 16, 32);
    std::memcpy(keys[i].aes.data(), p + 48, 32);
  }
  std::lock_guard lock(mu_);
  keys_ = std::move(keys);
  from_file_ = true;
  return true;
}

bool TicketKeys::from_file() const {
  std::lock_guard lock(mu_);
  return from_file_;
}

int TicketKeys::on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                          int enc) {
  Key key;
  int result = 1;  // encryption
  {
    std::lock_guard lock(mu_);
    if (keys_.empty()) return -1;
    if (enc) {
      key = keys_.front();
    } else {
      auto it = std::find_if(keys_.begin(), keys_.end(),
                             [&](const Key& k) { return std::memcmp(k.name.data(), key_name, 16) == 0; });
      if (it == keys_.end()) return 0;  // unknown key: a full handshake, and a fresh ticket
      key = *it;
      // 2: decrypts, and the client gets a fresh ticket (under the current key). Always: a TLS 1.3
      // client uses a ticket once, so a resumption without a new ticket makes its next
      // connection a full handshake.
      result = 2;
    }
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (enc) {
    std::memcpy(key_name, key.name.data(), 16);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) return -1;
  } else {
    if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) return -1;
  }
  if (EVP_MAC_init(mac, key.hmac.data(), key.hmac.size(), params) != 1) return -1;
  return result;
}

std::shared_ptr<TicketKeys> TicketRegistry::for_listener(const std::string& listener) {
  std::lock_guard lock(mu_);
  auto& slot = keys_[listener];
  if (!slot) slot = std::make_shared<TicketKeys>();
  return slot;
}

void TicketRegistry::rotate_generated() {
  std::lock_guard lock(mu_);
  for (auto& [name, keys] : keys_)
    if (!keys->from_file()) keys->rotate();
}

void TicketRegistry::collect() {
  std::lock_guard lock(mu_);
  for (auto it = keys_.begin(); it != keys_.end();) it = it->second.use_count() == 1 ? keys_.erase(it) : std::next(it);
}

// ---------------------------------------------------------------------------------------------
// Handshake failures

std::string_view failure_name(HandshakeFailure f) {
  switch (f) {
    case HandshakeFailure::timeout: return "timeout";
    case HandshakeFailure::closed: return "closed";
    case HandshakeFailure::http_request: return "http_request";
    case HandshakeFailure::protocol_version: return "protocol_version";
    case HandshakeFailure::no_shared_cipher: return "no_shared_cipher";
    case HandshakeFailure::client_certificate: return "client_certificate";
    case HandshakeFailure::other: return "other";
  }
  return "other";
}

HandshakeFailure classify_failure(unsigned long ssl_error, bool socket_closed, bool timed_out) {
  if (timed_out) return HandshakeFailure::timeout;
  if (ssl_error != 0) {
    switch (ERR_GET_REASON(ssl_error)) {
      case SSL_R_HTTP_REQUEST:
      case SSL_R_HTTPS_PROXY_REQUEST:
        return HandshakeFailure::http_request;
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_VERSION_TOO_LOW:
        return HandshakeFailure::protocol_version;
      case SSL_R_NO_SHARED_CIPHER:
      case SSL_R_NO_SHARED_GROUPS:
      case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        return HandshakeFailure::no_shared_cipher;
      case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return HandshakeFailure::closed;
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
      case SSL_R_NO_CERTIFICATES_RETURNED:
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return HandshakeFailure::client_certificate;
      default:
        return HandshakeFailure::other;
    }
  }
  return socket_closed ? HandshakeFailure::closed : HandshakeFailure::other;
}

// ---------------------------------------------------------------------------------------------
// Server contexts

ServerContext::~ServerContext() {
  for (SSL_CTX* c : contexts_) SSL_CTX_free(c);
}

std::shared_ptr<const ServerContext> ServerContext::build(const config::TlsSpec& spec, std::size_t listener_index,
                                                          std::shared_ptr<TicketKeys> keys,
                                                          std::vector<config::Diagnostic>& diagnostics) {
  std::shared_ptr<ServerContext> sc(new ServerContext());
  sc->keys_ = std::move(keys);
  const std::string base = "listeners[" + std::to_string(listener_index) + "].tls";
  const std::size_t errors_before = diagnostics.size();
  auto fail = [&](const config::Mark& mark, const std::string& path, std::string message) {
    diagnostics.push_back({mark, std::move(message), path});
  };

  for (const std::string& proto : spec.alpn) {
    sc->alpn_.push_back(static_cast<unsigned char>(proto.size()));
    sc->alpn_.insert(sc->alpn_.end(), proto.begin(), proto.end());
  }
  STACK_OF(X509_NAME)* client_names = nullptr;
  if (spec.client_ca) {
    client_names = SSL_load_client_CA_file(spec.client_ca->c_str());
    if (!client_names) {
      fail(spec.mark, base + ".client_auth.ca", "cannot read CA bundle " + *spec.client_ca + ": " + openssl_error());
      return nullptr;
    }
    sc->client_subject_header_ = spec.client_subject_header;
  }
  struct NamesFree {
    STACK_OF(X509_NAME)* names;
    ~NamesFree() {
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
    }
  } names_free{client_names};
  if (spec.session_tickets && spec.ticket_key_file) {
    std::string error;
    if (!sc->keys_->load_file(*spec.ticket_key_file, error)) fail(spec.mark, base + ".session_tickets.key_file", error);
  }

  // Certificates grouped by their name sets; each group is one SSL_CTX.
  std::map<std::vector<std::string>, std::size_t> group_of;  // names -> index in contexts_
  std::vector<std::set<std::string>> key_types;             // per context
  for (std::size_t i = 0; i < spec.certificates.size(); ++i) {
    const auto& cs = spec.certificates[i];
    const std::string path = base + ".certificates[" + std::to_string(i) + "]";
    std::string error;
    auto leaf = read_leaf(cs.cert, error);
    if (!leaf) {
      fail(cs.mark, path + ".cert", error);
      continue;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) <= 0) {
      fail(cs.mark, path + ".cert", "certificate " + cs.cert + " has expired");
      continue;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf.get())) >= 0) {
      fail(cs.mark, path + ".cert", "certificate " + cs.cert + " is not valid yet");
      continue;
    }
    const auto names = certificate_names(leaf.get());
    if (names.empty()) {
      fail(cs.mark, path + ".cert", "certificate " + cs.cert + " names no host (no subjectAltName DNS entry, no CN)");
      continue;
    }
    auto [it, fresh] = group_of.emplace(names, sc->contexts_.size());
    if (fresh) {
      SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
      if (!ctx) {
        fail(cs.mark, path, "cannot create a TLS context: " + openssl_error());
        group_of.erase(it);
        continue;
      }
      sc->contexts_.push_back(ctx);
      key_types.emplace_back();
      if (!configure(ctx, spec, error)) {
        fail(spec.mark, base, error);
        return nullptr;
      }
      SSL_CTX_set_ex_data(ctx, ticket_keys_index(), sc->keys_.get());
      SSL_CTX_set_tlsext_servername_callback(ctx, &ServerContext::on_servername);
      SSL_CTX_set_tlsext_servername_arg(ctx, sc.get());
      SSL_CTX_set_tlsext_status_cb(ctx, status_callback);
      if (!sc->alpn_.empty()) SSL_CTX_set_alpn_select_cb(ctx, alpn_select, &sc->alpn_);
      if (spec.client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, spec.client_ca->c_str(), nullptr) != 1) {
          fail(spec.mark, base + ".client_auth.ca", "cannot use CA bundle " + *spec.client_ca + ": " + openssl_error());
          return nullptr;
        }
        SSL_CTX_set_client_CA_list(ctx, SSL_dup_CA_list(client_names));
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (spec.client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           nullptr);
        SSL_CTX_set_verify_depth(ctx, 8);
      }
    }
    SSL_CTX* ctx = sc->contexts_[it->second];
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cs.cert.c_str()) != 1) {
      fail(cs.mark, path + ".cert", "cannot use certificate chain " + cs.cert + ": " + openssl_error());
      continue;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cs.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
      const std::string why = openssl_error();
      fail(cs.mark, path + ".key",
           mismatch ? "private key " + cs.key + " does not match certificate " + cs.cert
                    : "cannot read private key " + cs.key + ": " + why);
      continue;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      fail(cs.mark, path + ".key", "private key " + cs.key + " does not match certificate " + cs.cert);
      continue;
    }
    const std::string type = key_type(SSL_CTX_get0_privatekey(ctx));
    if (!key_types[it->second].insert(type).second) {
      fail(cs.mark, path, "a second " + type + " certificate for the same names (" + names.front() +
                              (names.size() > 1 ? ", ..." : "") + "); one per key type");
      continue;
    }
    if (!cs.ocsp.empty()) {
      STACK_OF(X509)* chain = nullptr;
      SSL_CTX_get0_chain_certs(ctx, &chain);
      auto der = load_ocsp(cs.ocsp, leaf.get(), chain, cs.cert, error);
      if (!der) {
        fail(cs.ocsp_mark, path + ".ocsp", error);
        continue;
      }
      Staples& staples = staples_of(ctx);
      staples.entries.reserve(staples.entries.size() + 1);  // no throw between the up-ref and the push
      X509* served = SSL_CTX_get0_certificate(ctx);
      X509_up_ref(served);
      staples.entries.push_back({served, std::move(*der)});
    }
    for (const std::string& n : names) {
      SSL_CTX* target = sc->contexts_[it->second];
      if (n.starts_with("*.")) sc->wildcard_.emplace(n.substr(2), target);
      else sc->exact_.emplace(n, target);
    }
  }
  if (diagnostics.size() != errors_before) return nullptr;
  if (sc->contexts_.empty()) {
    fail(spec.mark, base + ".certificates", "tls needs at least one certificate");
    return nullptr;
  }
  return sc;
}

SSL* ServerContext::new_ssl() const { return SSL_new(contexts_.front()); }

std::string ServerContext::verified_subject(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  BIO* mem = BIO_new(BIO_s_mem());
  if (!mem) return {};
  X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(mem, &data);
  std::string out(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(mem);
  return out;
}

std::vector<std::string> ServerContext::names() const {
  std::vector<std::string> out;
  for (const auto& [n, c] : exact_) out.push_back(n);
  for (const auto& [n, c] : wildcard_) out.push_back("*." + n);
  std::sort(out.begin(), out.end());
  return out;
}

SSL_CTX* ServerContext::lookup(std::string_view server_name) const {
  std::string name = lower(server_name);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  // "*.example.com" covers exactly one label: "a.example.com", not "a.b.example.com".
  if (auto dot = name.find('.'); dot != std::string::npos) {
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
  }
  return nullptr;
}

int ServerContext::on_servername(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the default certificate
  SSL_CTX* ctx = self->lookup(name);
  if (ctx && ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;  // an unknown name gets the default certificate too
}

}  // namespace rampart::tls
