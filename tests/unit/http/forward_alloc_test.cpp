// Hot-path budget: the forwarding writers only append to the caller's buffer; once its capacity
// suffices, that buffer is not reallocated.
#include "http/forward.hpp"

#include <catch2/catch.hpp>

// The allocation functions are not replaced here (unit_http is shared with the parser tests);
// the check is that the caller's buffer is neither reallocated nor needed beyond what it holds.

using namespace rampart;
using namespace rampart::http;

TEST_CASE("forwarding writers append to a reused buffer without reallocating it", "[forward][alloc]") {
  RequestHead req;
  req.method_text = "POST";
  req.target = "/x";
  req.path = "/x";
  req.host = "example.com";
  req.headers = {{"Host", "example.com"},       {"Connection", "keep-alive, X-Drop"}, {"X-Drop", "1"},
                 {"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-Proto", "http"},        {"Content-Length", "4"},
                 {"Accept", "*/*"}};
  req.body = BodyKind::content_length;
  req.content_length = 4;
  config::HeaderOps ops;
  ops.remove = {"accept"};
  ops.set = {{"x-env", "prod"}};
  ops.add = {{"x-more", "1"}};
  ForwardInfo info{"10.0.0.1", true, "https", "rid"};

  ResponseHead resp;
  resp.status = 200;
  resp.reason = "OK";
  resp.headers = {{"Server", "b"}, {"Keep-Alive", "timeout=1"}, {"Content-Type", "text/plain"}};
  resp.body = BodyKind::until_close;
  ResponseInfo rinfo;
  rinfo.request_id = "rid";

  std::string out;
  out.reserve(4096);
  const char* data = out.data();
  const std::size_t capacity = out.capacity();
  write_upstream_request(req, "/x", ops, info, out);
  write_downstream_response(resp, ops, rinfo, out);
  write_local_response(404, "text/plain", "nope", "X-A: 1\r\n", "rid", false, false, out);

  CHECK(out.data() == data);
  CHECK(out.capacity() == capacity);
  CHECK(out.find("X-Forwarded-For: 1.1.1.1, 10.0.0.1\r\n") != std::string::npos);
  CHECK(out.find("X-Drop") == std::string::npos);
  CHECK(out.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
}
