"""An HTTP server on 127.0.0.1 in the test process, for a `with` block: it serves in a thread
from the block's start and is shut down at its end, whatever the test did. The stand-ins for
services beyond the machine (GitHub's API, a chat webhook) are these."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    """Subclasses say how to answer a request (`answer(request, method)`)."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    @property
    def port(self) -> int:
        assert self._server is not None, "not serving"
        return self._server.server_port

    def __enter__(self) -> Self:
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.answer(self, "GET")

            def do_POST(self) -> None:
                served.answer(self, "POST")

            def do_PATCH(self) -> None:
                served.answer(self, "PATCH")

            def do_DELETE(self) -> None:
                served.answer(self, "DELETE")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
