"""The registry client's anonymous token flow and tag pagination, as ghcr.io answers them.

ghcr.io cannot be reached from here, and go-containerregistry's registry (the real one the
end-to-end tests use, tests/e2e/test_registry.py) asks for no token. So this plays GitHub's
side: a recorder on loopback that answers exactly ghcr.io's protocol (401 with a Bearer
challenge, an anonymous token at the realm for that service and scope, tags two to a page
through `Link`) and fails the test on any request it does not know."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hecate.fleet.registry import Registry, RegistryError

NAME = "hecate-social/hecate-daemon"
TAGS = ["0.7.1", "0.7.2", "0.7.3", "0.8.0-rc.1", "latest"]
TOKEN = "anonymous-pull-token"


class GhcrRecorder(BaseHTTPRequestHandler):
    calls: list[str]
    unknown: list[str]

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        host = self.server.server_address
        realm = f"http://{host[0]}:{host[1]}/token"
        challenge = f'Bearer realm="{realm}",service="ghcr.io",scope="repository:{NAME}:pull"'
        self._answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
        return False

    def do_GET(self):
        self._route()

    def do_HEAD(self):
        self._route()

    def _route(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.calls.append(f"{self.command} {self.path}")
        if url.path == "/token" and self.command == "GET":
            if query == {"service": ["ghcr.io"], "scope": [f"repository:{NAME}:pull"]}:
                return self._answer(200, {"token": TOKEN})
        elif url.path == f"/v2/{NAME}/tags/list" and self.command == "GET":
            if self._authorized():
                start = TAGS.index(query["last"][0]) + 1 if "last" in query else 0
                page = TAGS[start : start + 2]
                headers = {}
                if start + 2 < len(TAGS):
                    headers["Link"] = f'</v2/{NAME}/tags/list?n=2&last={page[-1]}>; rel="next"'
                return self._answer(200, {"name": NAME, "tags": page}, headers)
            return None
        elif url.path.startswith(f"/v2/{NAME}/manifests/") and self.command == "HEAD":
            if self._authorized():
                found = url.path.rsplit("/", 1)[1] in TAGS
                return self._answer(200 if found else 404)
            return None
        self.unknown.append(f"{self.command} {self.path}")
        self._answer(400, {"errors": [{"code": "UNKNOWN TO THE RECORDER"}]})


@pytest.fixture
def ghcr():
    handler = type("Handler", (GhcrRecorder,), {"calls": [], "unknown": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
    assert handler.unknown == [], f"requests the recorder does not know: {handler.unknown}"


def test_tags_are_listed_with_an_anonymous_token_page_by_page(ghcr):
    server, recorded = ghcr
    host = f"127.0.0.1:{server.server_address[1]}"
    assert Registry(f"{host}/{NAME}").tags() == TAGS
    tokens = [c for c in recorded.calls if c.startswith("GET /token")]
    assert len(tokens) == 1, recorded.calls  # asked once, then reused for every page


def test_a_tag_is_looked_up_with_the_token_and_a_missing_one_is_no_error(ghcr):
    server, _ = ghcr
    registry = Registry(f"127.0.0.1:{server.server_address[1]}/{NAME}")
    assert registry.has_tag("0.7.3") is True
    assert registry.has_tag("0.7.4") is False


def test_a_registry_that_asks_for_credentials_is_named(ghcr, monkeypatch):
    server, _ = ghcr
    monkeypatch.setattr(
        GhcrRecorder,
        "_authorized",
        lambda self: self._answer(401, {}, {"WWW-Authenticate": 'Basic realm="x"'}),
    )
    with pytest.raises(RegistryError, match=r"asks for credentials .*only public images"):
        Registry(f"127.0.0.1:{server.server_address[1]}/{NAME}").tags()
