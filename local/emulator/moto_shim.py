"""moto server as the local runtime starts it.

- Dies with its parent (PR_SET_PDEATHSIG), so a killed test run leaves no emulator behind.
- Serializes requests: AWS makes each call atomic (DynamoDB conditional writes, S3
  If-None-Match create-only puts); moto's threaded server does not, and concurrent
  calls could both "win". SQS ReceiveMessage is left out, so a long poll cannot stall
  everything else.
"""
import ctypes
import signal
import sys
import threading

ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

from werkzeug.serving import run_simple  # noqa: E402

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main(host: str, port: int) -> None:
    import os

    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def is_long_poll(environ) -> bool:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        return target.endswith("ReceiveMessage") or "Action=ReceiveMessage" in environ.get("QUERY_STRING", "")

    def serialized(environ, start_response):
        if is_long_poll(environ):
            return app(environ, start_response)
        with lock:
            # Consume the response inside the lock: the work happens while iterating.
            return [b"".join(app(environ, start_response))]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, serialized, threaded=True, use_reloader=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
