"""What a rollout tells GitHub (hecate/fleet/deployments.py), against the recorder that stands
in for GitHub's REST API (testbed/github_api.py): a deployment per cluster with its statuses, a
rollback as a deployment of its own, nothing without a token, and a refusal said once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from hecate.fleet.deployments import MAX_DESCRIPTION, Deployments
from testbed.github_api import GitHubApiRecorder

TOKEN = "ghs_" + "t0ken" * 6
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def github():
    with GitHubApiRecorder(TOKEN) as recorder:
        yield recorder


def environment(github, **more) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": "hecate-social/hecate-infra",
        "GITHUB_API_URL": github.url,
        "GITHUB_SHA": SHA,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        **more,
    }


def test_a_wave_s_clusters_each_get_a_deployment_then_its_result(github, tmp_path):
    notes: list[str] = []
    deployments = Deployments.from_environment(environment(github), str(tmp_path), notes.append)
    deployments.deploying("dev-cluster", "dev", "0.7.3", "canary")
    deployments.status("dev-cluster", "success", "hecate-daemon 0.7.3: rolled out")
    deployments.deploying("edge-cluster", "edge", "0.7.3", "edge")
    deployments.status("edge-cluster", "failure", "gate: pods not ready (ImagePullBackOff)")
    deployments.rolling_back("edge-cluster", "edge", "0.7.2", "edge")
    deployments.status("edge-cluster", "success", "rolled back to hecate-daemon 0.7.2")
    assert notes == []
    recorded = github.recorded
    assert recorded.unknown == []
    assert [(d["environment"], d["ref"]) for d in recorded.deployments] == [
        ("dev-cluster", SHA),
        ("edge-cluster", SHA),
        ("edge-cluster", SHA),
    ]
    assert recorded.deployments[0]["payload"] == {
        "stack": "dev",
        "version": "0.7.3",
        "wave": "canary",
    }
    assert recorded.deployment_statuses("dev-cluster") == [
        ("hecate-daemon 0.7.3 (wave canary)", "in_progress", "hecate-daemon 0.7.3 (wave canary)"),
        ("hecate-daemon 0.7.3 (wave canary)", "success", "hecate-daemon 0.7.3: rolled out"),
    ]
    rollback = "rollback to hecate-daemon 0.7.2 (wave edge failed)"
    assert recorded.deployment_statuses("edge-cluster") == [
        ("hecate-daemon 0.7.3 (wave edge)", "in_progress", "hecate-daemon 0.7.3 (wave edge)"),
        ("hecate-daemon 0.7.3 (wave edge)", "failure", "gate: pods not ready (ImagePullBackOff)"),
        (rollback, "in_progress", rollback),
        (rollback, "success", "rolled back to hecate-daemon 0.7.2"),
    ]
    # Each status links the run that rolled out.
    links = {s["log_url"] for d in recorded.deployments for s in d["statuses"]}
    assert links == {"https://github.com/hecate-social/hecate-infra/actions/runs/4242"}


def test_without_a_token_nothing_is_sent_and_the_rollout_says_so_once(github, tmp_path):
    notes: list[str] = []
    env = environment(github)
    del env["GITHUB_TOKEN"]
    deployments = Deployments.from_environment(env, str(tmp_path), notes.append)
    deployments.deploying("dev-cluster", "dev", "0.7.3", "canary")
    deployments.status("dev-cluster", "success", "done")
    assert len(notes) == 1 and "no GITHUB_TOKEN" in notes[0]
    assert github.recorded.calls == []


def test_a_refused_call_is_said_once_and_nothing_more_is_sent(github, tmp_path):
    notes: list[str] = []
    env = environment(github, GITHUB_TOKEN="ghs_revoked")
    deployments = Deployments.from_environment(env, str(tmp_path), notes.append)
    for cluster in ("dev-cluster", "edge-cluster"):
        deployments.deploying(cluster, cluster[:-8], "0.7.3", "canary")
        deployments.status(cluster, "success", "done")
    assert github.recorded.calls == ["POST /repos/hecate-social/hecate-infra/deployments"]
    assert len(notes) == 1 and "HTTP 401" in notes[0] and "the rollout goes on" in notes[0]
    assert "ghs_revoked" not in notes[0]
    assert github.recorded.deployments == []


def test_a_long_gate_message_is_cut_to_what_github_takes(github, tmp_path):
    deployments = Deployments.from_environment(environment(github), str(tmp_path), print)
    deployments.deploying("dev-cluster", "dev", "0.7.3", "canary")
    deployments.status("dev-cluster", "failure", "gate: " + "the pod is not ready; " * 20)
    [deployment] = github.recorded.deployments
    described = deployment["statuses"][-1]["description"]
    assert len(described) == MAX_DESCRIPTION and described.endswith("…")


def test_the_commit_is_the_project_s_head_outside_a_workflow(github, tmp_path):
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(tmp_path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
    )
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    env = environment(github)
    for key in ("GITHUB_SHA", "GITHUB_RUN_ID"):
        del env[key]
    deployments = Deployments.from_environment(env, str(tmp_path), print)
    deployments.deploying("dev-cluster", "dev", "0.7.3", "canary")
    [deployment] = github.recorded.deployments
    assert deployment["ref"] == head
    assert deployment["statuses"][0]["log_url"] == ""


def call(github, method: str, path: str, body: dict | None = None, token: str = TOKEN):
    request = urllib.request.Request(
        github.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"token {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, json.loads(answer.read())


def test_the_recorder_keeps_commit_statuses_as_github_shows_them(github):
    """go-github's calls, as Flux's notification-controller makes them against an Enterprise
    address (`/api/v3`): create, and list a commit's statuses newest first."""
    for cluster, state in (("dev", "pending"), ("edge", "success"), ("dev", "success")):
        code, _ = call(
            github,
            "POST",
            f"/api/v3/repos/o/gitops/statuses/{SHA}",
            {"state": state, "context": f"hecate/{cluster}-cluster", "description": "x"},
        )
        assert code == 201
    code, listed = call(github, "GET", f"/api/v3/repos/o/gitops/commits/{SHA}/statuses")
    assert code == 200
    assert [(s["context"], s["state"]) for s in listed] == [
        ("hecate/dev-cluster", "success"),
        ("hecate/edge-cluster", "success"),
        ("hecate/dev-cluster", "pending"),
    ]
    latest = github.recorded.statuses_of(SHA)
    assert {c: s["state"] for c, s in latest.items()} == {
        "hecate/dev-cluster": "success",
        "hecate/edge-cluster": "success",
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "code"),
    [
        ("GET", "/repos/o/r/pulls", None, TOKEN, 404),  # a call it does not know
        ("DELETE", "/repos/o/r/deployments/1", None, TOKEN, 404),
        ("POST", f"/repos/o/r/statuses/{SHA}", {"state": "success"}, "wrong", 401),
        ("POST", f"/repos/o/r/statuses/{SHA}", {"state": "great"}, TOKEN, 422),
        ("POST", "/repos/o/r/deployments", {"ref": SHA, "environment": "x"}, TOKEN, 409),
        ("POST", "/repos/o/r/deployments/7/statuses", {"state": "success"}, TOKEN, 404),
    ],
)
def test_the_recorder_refuses_what_github_would_and_records_what_it_does_not_know(
    github, method, path, body, token, code
):
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(github, method, path, body, token)
    assert refused.value.code == code
    assert github.recorded.unknown == (
        [f"{method} {path}"] if code == 404 and "7" not in path else []
    )
