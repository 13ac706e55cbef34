"""A recorder that stands in for GitHub's REST API (GitHub cannot be reached here): the
endpoints the fleet tool (deployments) and Flux's notification-controller (commit statuses)
call, on a loopback port, in this process. It keeps what they did and fails every call it does
not know: answered 404 and recorded in `unknown`, which a test asserts is empty.

  POST /repos/{owner}/{repo}/statuses/{sha}                    a commit status
  GET  /repos/{owner}/{repo}/commits/{ref}/statuses            a commit's statuses, newest first
  POST /repos/{owner}/{repo}/deployments                       a deployment
  POST /repos/{owner}/{repo}/deployments/{id}/statuses         a deployment's status
  GET  /repos/{owner}/{repo}/deployments/{id}/statuses         its statuses, newest first

Each path may carry GitHub Enterprise's `/api/v3` prefix (go-github's, for any host but
github.com). A call without one of the tokens it was given is refused 401, as GitHub does."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from .loopback import LoopbackServer

_REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"
ROUTES = (
    ("POST", re.compile(_REPO + r"/statuses/(?P<sha>[0-9a-f]{7,40})"), "create_status"),
    ("GET", re.compile(_REPO + r"/commits/(?P<ref>[^/]+)/statuses"), "list_statuses"),
    ("POST", re.compile(_REPO + r"/deployments"), "create_deployment"),
    ("POST", re.compile(_REPO + r"/deployments/(?P<id>\d+)/statuses"), "create_deployment_status"),
    ("GET", re.compile(_REPO + r"/deployments/(?P<id>\d+)/statuses"), "list_deployment_statuses"),
)
STATUS_STATES = ("error", "failure", "pending", "success")
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


class Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Recorded:
    """What GitHub would hold, in the order it was told."""

    statuses: list[dict[str, Any]] = field(default_factory=list)  # every commit status
    deployments: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # `METHOD path`, every one
    unknown: list[str] = field(default_factory=list)  # calls no route knows

    def statuses_of(self, sha: str) -> dict[str, dict[str, Any]]:
        """A commit's statuses by name (context), each the latest: what GitHub shows."""
        latest: dict[str, dict[str, Any]] = {}
        for status in self.statuses:
            if status["sha"] == sha:
                latest[status["context"]] = status
        return latest

    def deployment_statuses(self, environment: str) -> list[tuple[str, str, str]]:
        """(deployment description, state, status description) of an environment, in order."""
        return [
            (d["description"], s["state"], s["description"])
            for d in self.deployments
            if d["environment"] == environment
            for s in d["statuses"]
        ]


class GitHubApiRecorder(LoopbackServer):
    """`with GitHubApiRecorder(*tokens) as github:` serves on 127.0.0.1 until the block ends."""

    def __init__(self, *tokens: str):
        self.tokens = set(tokens)
        self.recorded = Recorded()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- serving --

    def answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(request.path).path.removeprefix("/api/v3").rstrip("/")
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        with self._lock:
            self.recorded.calls.append(f"{method} {path}")
            try:
                code, answer = self._answer(method, path, request.headers, raw)
            except Refused as refused:
                code, answer = refused.code, {"message": str(refused)}
        body = json.dumps(answer).encode()
        request.send_response(code)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _answer(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        found = next(
            (
                (name, m)
                for verb, pattern, name in ROUTES
                if verb == method and (m := pattern.fullmatch(path))
            ),
            None,
        )
        if found is None:
            self.recorded.unknown.append(f"{method} {path}")
            raise Refused(404, f"the recorder knows no {method} {path}")
        name, match = found
        given = (headers.get("Authorization") or "").split(" ", 1)
        if (
            len(given) != 2
            or given[0].lower() not in ("bearer", "token")
            or given[1] not in self.tokens
        ):
            raise Refused(401, "Bad credentials")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise Refused(400, "Problems parsing JSON") from None
        return getattr(self, "_" + name)(body, **match.groupdict())

    def _create_status(self, body: dict, repo: str, sha: str) -> tuple[int, Any]:
        if body.get("state") not in STATUS_STATES:
            raise Refused(422, f"state {body.get('state')!r} is not one of {STATUS_STATES}")
        status = {
            "id": len(self.recorded.statuses) + 1,
            "repository": repo,
            "sha": sha,
            "state": body["state"],
            "context": body.get("context") or "default",
            "description": body.get("description") or "",
            "target_url": body.get("target_url") or "",
        }
        self.recorded.statuses.append(status)
        return 201, status

    def _list_statuses(self, body: dict, repo: str, ref: str) -> tuple[int, Any]:
        found = [s for s in self.recorded.statuses if s["repository"] == repo and s["sha"] == ref]
        return 200, list(reversed(found))

    def _create_deployment(self, body: dict, repo: str) -> tuple[int, Any]:
        for key in ("ref", "environment"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise Refused(422, f"{key} is required")
        if body.get("auto_merge", True) or body.get("required_contexts") != []:
            # A deployment of a commit that is not the default branch's head would be refused
            # (auto_merge), or held for its statuses: the fleet tool asks for neither.
            raise Refused(409, "auto_merge and required_contexts must be turned off here")
        deployment = {
            "id": len(self.recorded.deployments) + 1,
            "repository": repo,
            "ref": body["ref"],
            "environment": body["environment"],
            "description": body.get("description") or "",
            "payload": body.get("payload") or {},
            "statuses": [],
        }
        self.recorded.deployments.append(deployment)
        return 201, {k: v for k, v in deployment.items() if k != "statuses"}

    def _deployment(self, repo: str, id: str) -> dict[str, Any]:
        for deployment in self.recorded.deployments:
            if deployment["id"] == int(id) and deployment["repository"] == repo:
                return deployment
        raise Refused(404, f"no deployment {id} in {repo}")

    def _create_deployment_status(self, body: dict, repo: str, id: str) -> tuple[int, Any]:
        deployment = self._deployment(repo, id)
        if body.get("state") not in DEPLOYMENT_STATES:
            raise Refused(422, f"state {body.get('state')!r} is not one of {DEPLOYMENT_STATES}")
        description = body.get("description") or ""
        if len(description) > 140:
            raise Refused(422, "description is too long (maximum is 140 characters)")
        status = {
            "state": body["state"],
            "description": description,
            "log_url": body.get("log_url") or "",
            "environment": deployment["environment"],
        }
        deployment["statuses"].append(status)
        return 201, status

    def _list_deployment_statuses(self, body: dict, repo: str, id: str) -> tuple[int, Any]:
        return 200, list(reversed(self._deployment(repo, id)["statuses"]))
