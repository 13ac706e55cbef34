"""A receiver of Flux's `generic` webhook on a loopback port, in this process: it keeps every
event the notification-controller posts (the JSON body of an eventv1.Event), for the tests to
read. `with EventReceiver() as receiver:` serves until the block ends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/flux"


class EventReceiver:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []  # anything posted elsewhere, or not JSON
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not serving"
        return f"http://127.0.0.1:{self._server.server_port}{PATH}"

    def __enter__(self) -> EventReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = json.loads(body)
                except ValueError:
                    event = None
                with receiver._lock:
                    if self.path == PATH and isinstance(event, dict):
                        receiver.events.append(event)
                    else:
                        receiver.refused.append(f"POST {self.path}")
                self.send_response(200 if event is not None else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

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

    def seen(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)
