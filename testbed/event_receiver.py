"""A receiver of Flux's `generic` webhook on a loopback port, in this process: it keeps every
event the notification-controller posts (the JSON body of an eventv1.Event), for the tests to
read. `with EventReceiver() as receiver:` serves until the block ends."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackServer

PATH = "/flux"


class EventReceiver(LoopbackServer):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []  # anything posted elsewhere, or not JSON
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        try:
            event = json.loads(body) if method == "POST" else None
        except ValueError:
            event = None
        with self._lock:
            if request.path == PATH and isinstance(event, dict):
                self.events.append(event)
            else:
                self.refused.append(f"{method} {request.path}")
        request.send_response(200 if isinstance(event, dict) else 400)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def seen(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)
