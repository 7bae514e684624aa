"""Serving the web app: a production WSGI server in a thread that stops on request.

    server = WebServer(app, "127.0.0.1", 8080).start()   # port 0: any free port
    server.stop()
    serve(runtime, "127.0.0.1", 8080, stop)             # blocks until stop.set()

cheroot (CherryPy's HTTP/1.1 server) runs a pool of worker threads and writes
each chunk an app yields straight to the socket, so the board's server-sent
events reach the browser as they are produced; every open event stream holds
one worker, hence the pool's size. werkzeug's development server is used only
when asked (`hotline web --debug`).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from cheroot import wsgi
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from ivr.bootstrap import Runtime
from web import heavy
from web.app import create_app

WORKER_THREADS = 64  # requests in progress at once, event streams included


class _Server(Protocol):
    def serve(self) -> None: ...

    def stop(self) -> None: ...


class _CherootServer(wsgi.Server):
    """cheroot's server, closing the socket it made when binding it fails (a port in
    use): cheroot leaves that socket to the garbage collector."""

    @staticmethod
    def bind_socket(socket_: Any, bind_addr: Any) -> Any:
        try:
            return wsgi.Server.bind_socket(socket_, bind_addr)  # type: ignore[no-untyped-call]
        except OSError:
            socket_.close()
            raise


class _Cheroot:
    def __init__(self, app: Flask, host: str, port: int, threads: int) -> None:
        self._server = _CherootServer((host, port), app, numthreads=threads, server_name="hotline")
        self._server.prepare()  # binds now, so the port is known (port 0: any free one)
        self.port = int(self._server.bind_addr[1])

    def serve(self) -> None:
        self._server.serve()

    def stop(self) -> None:
        self._server.stop()


class _AccessLogHandler(WSGIRequestHandler):
    """werkzeug's handler, its access log without query strings: a call-log filter
    may hold a caller number (REQUIREMENTS §7). (cheroot writes no access log.)"""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.path = self.path.partition("?")[0]  # the WSGI environ was built already
        super().log_request(code, size)


class _Werkzeug:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        self._server = make_server(
            host, port, app, threaded=True, request_handler=_AccessLogHandler
        )
        self.port = self._server.server_port

    def serve(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebServer:
    """The app on host:port in a background thread; `stop()` ends it."""

    def __init__(
        self, app: Flask, host: str, port: int, *, debug: bool = False,
        threads: int = WORKER_THREADS,
    ) -> None:  # fmt: skip
        self.app, self.host = app, host
        impl = _Werkzeug(app, host, port) if debug else _Cheroot(app, host, port, threads)
        self.port = impl.port
        self._impl: _Server = impl
        self._thread = threading.Thread(target=impl.serve, daemon=True, name="hotline-web")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.app.extensions["hotline"].hub.stopping.set()  # event streams end first
        self._impl.stop()
        if self._thread.ident is not None:  # started (`hotline up` binds before it starts)
            self._thread.join(timeout=10)
        self.app.extensions[heavy.EXTENSION].close()  # the heavy-request pool's connections


def serve(
    runtime: Runtime,
    host: str,
    port: int,
    stop_event: threading.Event,
    *,
    debug: bool = False,
    **options: Any,
) -> None:
    """Run the web app on host:port until `stop_event` is set (`hotline web`, `hotline up`)."""
    server = WebServer(create_app(runtime, **options), host, port, debug=debug).start()
    try:
        stop_event.wait()
    finally:
        server.stop()
