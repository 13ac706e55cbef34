"""What a rollout tells GitHub: a deployment per cluster (its environment is the cluster's name)
of the infrastructure repository's commit, with the statuses a team reads on the environments
page: `in_progress` when the cluster's wave starts, then `success` or `failure` (the gate's
words), and a rollback as a deployment of its own (the version the cluster went back to).

On when GITHUB_TOKEN and GITHUB_REPOSITORY are set (a workflow passes them; GITHUB_API_URL,
GITHUB_SHA, GITHUB_SERVER_URL and GITHUB_RUN_ID as Actions sets them). Otherwise nothing is
sent, and the rollout says so once. GitHub's answer never decides a rollout: a call that fails
is said once, and nothing more is sent in that run.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2022-11-28"
MAX_DESCRIPTION = 140  # GitHub refuses a longer status description
TIMEOUT_SECONDS = 10.0


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_DESCRIPTION else line[: MAX_DESCRIPTION - 1] + "…"


@dataclass
class GitHubApi:
    url: str  # https://api.github.com, or GitHub Enterprise's
    repository: str  # owner/name
    token: str = field(repr=False)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}/repos/{self.repository}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "User-Agent": "hecate-fleet",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            return dict(json.loads(answer.read() or b"{}"))


def _head(root: str) -> str:
    done = subprocess.run(
        ["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@dataclass
class Deployments:
    """The rollout's deployments on GitHub, by cluster (none when `api` is None)."""

    api: GitHubApi | None
    ref: str  # the infrastructure repository's commit
    log_url: str  # the run that rolls out, when known
    note: Callable[[str], None] = lambda _: None  # the rollout's progress, from the CLI
    ids: dict[str, int] = field(default_factory=dict)  # the cluster's current deployment
    broken: str = ""

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str], root: str, note: Callable[[str], None]
    ) -> Deployments:
        token, repository = env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", "")
        if not token or not repository:
            note(
                "no GITHUB_TOKEN and GITHUB_REPOSITORY: no GitHub deployment is recorded "
                "(a workflow passes both; docs/operations.md)"
            )
            return cls(None, "", "", note)
        server, run = env.get("GITHUB_SERVER_URL", "https://github.com"), env.get("GITHUB_RUN_ID")
        api = GitHubApi(env.get("GITHUB_API_URL") or "https://api.github.com", repository, token)
        log_url = f"{server}/{repository}/actions/runs/{run}" if run else ""
        return cls(api, env.get("GITHUB_SHA") or _head(root), log_url, note)

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        if self.api is None or self.broken or not self.ref:
            return None
        try:
            return self.api.post(path, body)
        except (urllib.error.URLError, OSError, ValueError) as error:
            answer = ""
            if isinstance(error, urllib.error.HTTPError):
                answer = f"HTTP {error.code} {error.read()[:200].decode(errors='replace')}"
            self.broken = answer or str(error)
            self.note(
                f"GitHub refused a deployment call ({self.broken}); no more are sent in this "
                "run, and the rollout goes on"
            )
            return None

    def _deploy(self, cluster: str, description: str, payload: dict[str, str]) -> None:
        created = self._call(
            "/deployments",
            {
                "ref": self.ref,
                "environment": cluster,
                "description": _short(description),
                "auto_merge": False,  # the commit as it is, whatever main has since
                "required_contexts": [],  # the rollout's own gate decides, not other checks
                "payload": payload,
                "transient_environment": False,
            },
        )
        if created and isinstance(created.get("id"), int):
            self.ids[cluster] = created["id"]
            self.status(cluster, "in_progress", description)
        else:
            self.ids.pop(cluster, None)

    def deploying(self, cluster: str, stack: str, version: str, wave: str) -> None:
        self._deploy(
            cluster,
            f"hecate-daemon {version} (wave {wave})",
            {"stack": stack, "version": version, "wave": wave},
        )

    def rolling_back(self, cluster: str, stack: str, version: str, wave: str) -> None:
        self._deploy(
            cluster,
            f"rollback to hecate-daemon {version} (wave {wave} failed)",
            {"stack": stack, "version": version, "wave": wave, "rollback": "true"},
        )

    def status(self, cluster: str, state: str, description: str) -> None:
        """A status of the cluster's current deployment (`success`, `failure`, ...)."""
        if cluster not in self.ids:
            return
        body = {"state": state, "description": _short(description), "auto_inactive": True}
        if self.log_url:
            body["log_url"] = self.log_url
        self._call(f"/deployments/{self.ids[cluster]}/statuses", body)
