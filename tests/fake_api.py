"""A fake Kubernetes API server on loopback for unit tests: canned answers by path, every
request recorded (method, path with query, Authorization header, JSON body), 404 otherwise;
and a kubeconfig whose contexts all reach it with a bearer token."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

TOKEN = "t0ken"


@contextmanager
def fake_api_server(answers: dict[str, Any], kubeconfig: Path, *contexts: str) -> Iterator[list]:
    """Serves `answers` (path → JSON value, or str) until the block ends; yields the requests."""
    seen: list[tuple[str, str, str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append((self.command, self.path, self.headers.get("Authorization", ""), body))
            answer = answers.get(self.path.rstrip("/"))  # the version API asks `/version/`
            self.send_response(404 if answer is None else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if answer is None:
                self.wfile.write(b'{"kind":"Status","code":404}')
            else:
                self.wfile.write(
                    (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                )

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cluster = {"server": f"http://127.0.0.1:{server.server_port}"}
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [
                    {"name": name, "context": {"cluster": "c", "user": "u"}} for name in contexts
                ],
            }
        )
    )
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
