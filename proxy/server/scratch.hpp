// The working memory of one exchange: parsed heads, the serialized head being sent, the upstream
// target and the request id. A session borrows one from its worker while an exchange is in
// progress and gives it back when the connection goes idle, so idle keep-alive connections hold
// none of it and the steady state allocates nothing (vectors and strings keep their capacity).
#pragma once
#include "http/encoder.hpp"
#include "http/message.hpp"
#include "policy/policy.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::server {

struct ExchangeScratch {
  http::RequestHead req;
  http::ResponseHead resp;
  std::string out;         // serialized heads
  std::string target;      // upstream request target
  std::string request_id;
  // What the access log prints from the request, copied (only for logged exchanges: the head
  // bytes may be gone by the time the exchange ends) into one block that only grows: method,
  // host, path, query, user agent and referer, each a view of `log_copy`.
  enum LogPart { log_method, log_host, log_path, log_query, log_user_agent, log_referer, log_parts };
  std::string log_copy;
  std::string_view log_request[log_parts];
  std::string log_flags;
  // Edge policies: the request path (the head bytes are gone when the response comes), the
  // response's media type, and the header edits the chain made.
  std::string policy_path;
  std::string origin;  // the request's Origin (CORS)
  std::string media_type;
  http::HeaderEdits edits;
  policy::RequestNotes notes;  // what the request policies left for the response (rate-limit headers)
  std::string accept_encoding;  // the request's Accept-Encoding (kept only when the chain compresses)
  std::string etag;             // a weakened ETag of a compressed response
  std::string zout;             // compressed body bytes on their way to the client
  std::string trailers;         // an upstream chunked body's trailer fields ("name: value\r\n"...)
};

// Compressors of one worker: a response body being compressed borrows one and gives it back when
// it ends, so zlib's state is reused across responses and the number alive is the number of
// concurrent compressed responses. Per worker; not thread-safe.
class EncoderPool {
 public:
  std::unique_ptr<http::Encoder> take() {
    if (free_.empty()) return std::make_unique<http::Encoder>();
    auto e = std::move(free_.back());
    free_.pop_back();
    return e;
  }
  void give(std::unique_ptr<http::Encoder> e) {
    if (free_.size() < kMax) free_.push_back(std::move(e));
  }

 private:
  static constexpr std::size_t kMax = 16;
  std::vector<std::unique_ptr<http::Encoder>> free_;
};

// Per worker; not thread-safe.
class ScratchPool {
 public:
  std::unique_ptr<ExchangeScratch> take() {
    if (free_.empty()) return std::make_unique<ExchangeScratch>();
    auto s = std::move(free_.back());
    free_.pop_back();
    return s;
  }
  void give(std::unique_ptr<ExchangeScratch> s) {
    // A scratch that grew unusually large (a huge head) is not kept.
    if (free_.size() < kMax && s->out.capacity() <= 64 * 1024 && s->req.headers.capacity() <= 256)
      free_.push_back(std::move(s));
  }

 private:
  static constexpr std::size_t kMax = 128;
  std::vector<std::unique_ptr<ExchangeScratch>> free_;
};

}  // namespace rampart::server
