#!/usr/bin/python3
"""A real gRPC server and client (Debian's python3-grpcio) for Rampart's gRPC tests.

  grpc_echo.py serve            serves test.Echo on 127.0.0.1 (a free port), prints "listening PORT"
  grpc_echo.py call HOST:PORT   calls every method through HOST:PORT (Rampart) and prints one JSON
                                object per call; exits 0 when every call gave what it should

Methods (raw bytes, no protobuf):
  /test.Echo/Unary         returns the request; trailing metadata x-echo-trailer: done
  /test.Echo/Fail          fails with NOT_FOUND "no such thing" (grpc-status 5 through the proxy)
  /test.Echo/Stream        server streaming: 20 messages "msg-<i>" (the request is the count)
  /test.Echo/Collect       client streaming: returns the total size of the messages received
"""
import json
import sys
from concurrent import futures

import grpc


def serve():
    def unary(request, context):
        context.set_trailing_metadata((("x-echo-trailer", "done"),))
        return request

    def fail(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def stream(request, context):
        for i in range(int(request.decode() or "20")):
            yield ("msg-%d" % i).encode()

    def collect(request_iterator, context):
        total = 0
        for m in request_iterator:
            total += len(m)
        return str(total).encode()

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 16 << 20)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening %d" % port, flush=True)
    server.wait_for_termination()


def call(target):
    ok = True
    opts = [("grpc.max_receive_message_length", 16 << 20), ("grpc.enable_retries", 0)]
    with grpc.insecure_channel(target, options=opts) as ch:
        def report(name, passed, **fields):
            nonlocal ok
            ok = ok and passed
            print(json.dumps(dict(call=name, ok=passed, **fields)), flush=True)

        unary = ch.unary_unary("/test.Echo/Unary")
        try:
            payload = bytes(range(256)) * 4096  # 1 MiB: several windows' worth each way
            resp, c = unary.with_call(payload, timeout=10)
            trailers = dict(c.trailing_metadata() or ())
            report("unary", resp == payload and trailers.get("x-echo-trailer") == "done",
                   size=len(resp), code=c.code().name, trailer=trailers.get("x-echo-trailer"))
        except grpc.RpcError as e:
            report("unary", False, code=e.code().name, details=e.details())

        try:
            ch.unary_unary("/test.Echo/Fail")(b"x", timeout=10)
            report("fail", False, code="OK")
        except grpc.RpcError as e:
            report("fail", e.code() == grpc.StatusCode.NOT_FOUND and e.details() == "no such thing",
                   code=e.code().name, details=e.details())

        try:
            msgs = list(ch.unary_stream("/test.Echo/Stream")(b"20", timeout=10))
            report("stream", msgs == [("msg-%d" % i).encode() for i in range(20)], count=len(msgs))
        except grpc.RpcError as e:
            report("stream", False, code=e.code().name, details=e.details())

        try:
            sizes = [1000, 70000, 5, 300000]
            resp = ch.stream_unary("/test.Echo/Collect")(iter([b"a" * n for n in sizes]), timeout=10)
            report("collect", resp == str(sum(sizes)).encode(), total=resp.decode())
        except grpc.RpcError as e:
            report("collect", False, code=e.code().name, details=e.details())

        # Many calls in flight at once: they share the proxy's few upstream connections.
        try:
            fs = [unary.future(b"n%d" % i, timeout=10) for i in range(50)]
            results = [f.result() for f in fs]
            report("concurrent", results == [b"n%d" % i for i in range(50)], count=len(results))
        except grpc.RpcError as e:
            report("concurrent", False, code=e.code().name, details=e.details())
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve()
    elif len(sys.argv) >= 3 and sys.argv[1] == "call":
        sys.exit(call(sys.argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
