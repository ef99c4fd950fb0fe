// RFC 9113 §8 request validation for the HTTP/2 server codec, independent of nghttp2: one header
// block (a request head or a trailer section) is fed field by field as HPACK decodes it, checked,
// and — for a request head — assembled into a `Request` that owns its bytes.
//
// Strictness (where RFC 9113 allows a choice, we reject; the stream is then reset with
// PROTOCOL_ERROR by the caller):
// - field names: lower-case token characters only;
// - field values: VCHAR, obs-text, SP, HTAB only (so also no NUL/CR/LF and no other control byte,
//   as on the HTTP/1.1 side), and no leading or trailing SP/HTAB;
// - connection-specific fields: connection, keep-alive, proxy-connection, transfer-encoding,
//   upgrade; te with any value other than "trailers";
// - pseudo-header fields: only :method :scheme :authority :path, each at most once, none after a
//   regular field, none in trailers; :method, :scheme and :path required (:path non-empty, "/..."
//   or "*" for OPTIONS); :authority or host required, both equal (case-insensitively) when both are
//   present; at most one host; no userinfo in the authority;
// - content-length: at most one field, digits only (no lists), at most 2^62;
// - CONNECT (:method CONNECT with :authority and without :scheme/:path) is well-formed but not
//   supported: Verdict::connect (the caller refuses the stream). A CONNECT carrying :scheme or
//   :path is malformed (extended CONNECT, RFC 8441, is not offered: :protocol is unknown).
// Size: the header list size (RFC 9113 §6.5.2: name + value + 32 per field) is bounded by
// `max_list_size`; beyond it the block is Verdict::too_large and nothing more is stored, so the
// bytes held never exceed the bound.
#pragma once
#include "http/message.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::h2 {

// A validated request head, passed to the handler by value. Every view points into `storage`,
// which the Request owns: moving a Request keeps the views valid (a vector's buffer moves with
// it); copying is not offered.
struct Request {
  std::uint32_t stream = 0;
  std::string_view method, scheme, authority, path;  // path includes the query
  // Regular fields in received order, names lower-case. Host is not among them (its value is
  // `authority`); cookie crumbs are joined into one "cookie" field with "; " (RFC 9113 §8.2.3).
  std::vector<http::Header> headers;
  std::optional<std::uint64_t> content_length;
  bool end_stream = false;  // no body follows (and on_end_stream will not be called)
  std::vector<char> storage;

  Request() = default;
  Request(Request&&) = default;
  Request& operator=(Request&&) = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // Fills `out` for the HTTP/1.1 forwarding path (http::write_upstream_request): views into this
  // Request, so it must outlive `out`'s use. HTTP/1.1 semantics: target = path, host = authority,
  // body = none (end_stream), content_length (a content-length field) or chunked (length
  // unknown: the caller re-chunks the DATA for an HTTP/1.1 upstream); expect_continue from an
  // "expect: 100-continue" field.
  void to_head(http::RequestHead& out) const;
};

class HeaderBlock {
 public:
  enum class Kind : std::uint8_t { request, trailers };
  enum class Verdict : std::uint8_t {
    ok,         // so far (after finish(): a valid block)
    malformed,  // reset the stream with PROTOCOL_ERROR; reason() says why
    connect,    // a well-formed CONNECT: not supported, refuse the stream
    too_large,  // header list size over the bound
  };

  explicit HeaderBlock(std::uint32_t max_list_size) : max_list_size_(max_list_size) {}

  // Starts a new block, forgetting the previous one (buffers keep their capacity).
  void start(Kind kind);
  // Adds one decoded field. Once the verdict is not ok, fields are only counted, never stored.
  void add(std::string_view name, std::string_view value);
  Verdict verdict() const { return verdict_; }
  // Ends the block: checks what only the whole block can tell (required fields, :path form,
  // authority/host). For a request block with verdict ok, fills `out` (all but stream and
  // end_stream). For trailers nothing is kept (trailers are validated and dropped).
  Verdict finish(Request& out);
  Verdict finish_trailers();
  // A static text for logs when the verdict is not ok.
  const char* reason() const { return reason_; }
  // Header list size seen so far (RFC 9113 §6.5.2), and bytes actually held.
  std::uint64_t list_size() const { return list_size_; }
  std::size_t held_bytes() const { return bytes_.size(); }

 private:
  struct Ref {
    std::uint32_t off = 0, len = 0;
  };
  struct Field {
    Ref name, value;
  };
  void fail(Verdict v, const char* why);
  void add_pseudo(std::string_view name, std::string_view value);
  void add_regular(std::string_view name, std::string_view value);
  Ref keep(std::string_view s);
  std::string_view view(Ref r) const { return {bytes_.data() + r.off, r.len}; }
  bool eq(Ref r, std::string_view s) const { return view(r) == s; }

  std::uint32_t max_list_size_;
  Kind kind_ = Kind::request;
  Verdict verdict_ = Verdict::ok;
  const char* reason_ = "";
  std::uint64_t list_size_ = 0;
  std::string bytes_;           // names and values of kept fields, back to back
  std::vector<Field> fields_;   // regular fields except host and cookie
  std::vector<Ref> cookies_;    // cookie crumbs (values)
  std::size_t cookie_bytes_ = 0;
  Ref method_, scheme_, authority_, path_, host_;
  bool has_method_ = false, has_scheme_ = false, has_authority_ = false, has_path_ = false, has_host_ = false;
  bool regular_seen_ = false;
  std::optional<std::uint64_t> content_length_;
};

// Field-level checks, exposed for tests and for the response side.
bool valid_field_name(std::string_view name) noexcept;    // lower-case token
bool valid_field_value(std::string_view value) noexcept;  // see above
// A connection-specific field (RFC 9113 §8.2.2) given its lower-case name; te only with a value
// other than "trailers".
bool connection_specific(std::string_view name, std::string_view value) noexcept;
// The authority form accepted in :authority and host: reg-name / IPv4 / "[" IPv6 "]", optional
// ":" port; non-empty; no userinfo.
bool valid_authority(std::string_view a) noexcept;

}  // namespace rampart::h2
