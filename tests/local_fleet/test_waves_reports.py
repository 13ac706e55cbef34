"""Every cluster reports back where the team looks, on the test bed's three clusters with Flux's
notification-controller: a commit status per cluster on each gitops commit (named after the
cluster, so that none overwrites another's), each cluster's events at a generic webhook with
the cluster named, and a GitHub deployment per cluster from `fleet rollout`. GitHub's REST API
is the recorder (testbed/github_api.py); the webhook is testbed/event_receiver.py.

Runs with the session's `fleet_project` after the other test_waves* modules but the road
(versions 0.9.1 to 0.9.3), and puts the stack files back as they were when it ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.event_receiver import EventReceiver
from testbed.faults import UNREADY_SUFFIX
from testbed.flux import LOADED_BOUND
from testbed.github_api import GitHubApiRecorder
from testbed.processes import wait_for
from tests.local_fleet.waves import IMAGE, STACKS, assert_on, head, set_config

STATUS_TOKEN = "ghs_" + "status0" * 5  # the notification-controller's, in each cluster's Secret
DEPLOY_TOKEN = "ghs_" + "deploy0" * 5  # the rollout's, as a workflow's GITHUB_TOKEN
SECRET = "github-commit-status"
INFRA_SHA = "feedc0de" * 5


def ready(found: dict, size: int) -> dict | None:
    return found if len(found) == size else None


class Reporting:
    def __init__(self, project, github: GitHubApiRecorder, receiver: EventReceiver):
        self.project, self.github, self.receiver = project, github, receiver

    @property
    def deployment_env(self) -> dict[str, str]:
        return {
            "GITHUB_TOKEN": DEPLOY_TOKEN,
            "GITHUB_REPOSITORY": "hecate-social/hecate-infra",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SHA": INFRA_SHA,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "35",
        }

    def rollout(self, *args: str, expect: int = 0) -> dict:
        return self.project.json(
            "rollout", *args, "--plain", expect=expect, env=self.deployment_env
        )

    def statuses(self, sha: str) -> dict[str, tuple[str, str]]:
        """The commit's statuses as GitHub shows them: name → (state, description)."""
        return {
            c: (s["state"], s["description"])
            for c, s in self.github.recorded.statuses_of(sha).items()
        }

    def deploy_commit(self, cluster: str, version: str) -> str:
        subject = f"deploy({cluster}): hecate-daemon {version}"
        [sha] = [
            line.split(" ", 1)[0]
            for line in self.project.remote_log()
            if line.split(" ", 1)[1] == subject
        ]
        return sha

    def events_of(self, sha: str) -> dict[str, set[str]]:
        """Cluster (from the Alert's metadata) → the kinds whose events named commit `sha`."""
        found: dict[str, set[str]] = {}
        for event in self.receiver.seen():
            metadata = event.get("metadata") or {}
            if any(sha in str(v) for v in metadata.values()):
                kind = event["involvedObject"]["kind"]
                found.setdefault(metadata.get("cluster", "?"), set()).add(kind)
        return found


@pytest.fixture(scope="module")
def reporting(fleet_project):
    files = {s: (fleet_project.root / f"Pulumi.{s}.yaml").read_text() for s in STACKS}
    with GitHubApiRecorder(STATUS_TOKEN, DEPLOY_TOKEN) as github, EventReceiver() as receiver:
        for stack in STACKS:
            cluster = f"{stack}-cluster"
            # Made on the cluster by the team, never in the repository.
            fleet_project.fleet.kubectl(
                cluster, "-n", "flux-system", "delete", "secret", SECRET, "--ignore-not-found"
            )
            fleet_project.fleet.kubectl(
                cluster,
                "-n",
                "flux-system",
                "create",
                "secret",
                "generic",
                SECRET,
                f"--from-literal=token={STATUS_TOKEN}",
            )
            set_config(
                fleet_project,
                stack,
                {
                    "hecate:commitStatus": {
                        "secretRef": SECRET,
                        # GitHub Enterprise's form (the API under /api/v3), as go-github calls it.
                        "address": f"{github.url}/hecate-social/hecate-gitops",
                    },
                    "hecate:alerts": [
                        {"type": "generic", "address": receiver.url, "severity": "info"}
                    ],
                },
            )
        # Turned on by a rollout of its own: an Alert must exist before the commits it reports.
        report = fleet_project.json("rollout", "0.9.1", "--plain")
        assert report["result"] == "rolled out", report["failure"]
        for stack in STACKS:
            wait_for(
                f"{stack}: the Alerts applied by Flux",
                lambda s=stack: (
                    len(
                        fleet_project.fleet.get(f"{s}-cluster", "-n", "flux-system", "alerts")[
                            "items"
                        ]
                    )
                    == 2
                ),
                LOADED_BOUND,
            )
        try:
            yield Reporting(fleet_project, github, receiver)
        finally:
            for stack, text in files.items():
                (fleet_project.root / f"Pulumi.{stack}.yaml").write_text(text)


def test_each_commit_carries_one_status_per_cluster_and_the_webhook_names_each(reporting):
    report = reporting.rollout("0.9.2")
    assert report["result"] == "rolled out", report["failure"]
    assert_on(reporting.project, "0.9.2")
    last = head(reporting.project)
    # beam's deploy is the last commit: every cluster's Flux applied it, and each says so under
    # its own name; none took another's place.
    statuses = wait_for(
        "three statuses on the last commit",
        lambda: ready(reporting.statuses(last), 3),
        LOADED_BOUND,
    )
    assert {name: state for name, (state, _) in statuses.items()} == {
        f"hecate/{s}-cluster": "success" for s in STACKS
    }
    # An earlier commit, dev's deploy, carries dev's status from the moment dev applied it.
    dev_commit = reporting.deploy_commit("dev-cluster", "0.9.2")
    assert reporting.statuses(dev_commit)["hecate/dev-cluster"][0] == "success"
    events = wait_for(
        "every cluster's events of the last commit at the webhook",
        lambda: ready(reporting.events_of(last), 3),
        LOADED_BOUND,
    )
    assert set(events) == {f"{s}-cluster" for s in STACKS}
    assert all("Kustomization" in kinds for kinds in events.values()), events
    assert reporting.receiver.refused == []
    # On GitHub's environments page: a deployment per cluster of the infra commit.
    deployed = {
        d["environment"]: [s["state"] for s in d["statuses"]]
        for d in reporting.github.recorded.deployments
        if d["payload"].get("version") == "0.9.2"
    }
    assert deployed == {f"{s}-cluster": ["in_progress", "success"] for s in STACKS}
    assert reporting.github.recorded.unknown == []


def test_a_wave_that_fails_on_edge_says_so_on_the_commit_and_in_edge_s_deployments(
    reporting, tmp_path
):
    project = reporting.project
    bad = f"0.9.3{UNREADY_SUFFIX}"
    for stack, version in (("dev", "0.9.3"), ("edge", bad), ("beam", "0.9.3")):
        set_config(project, stack, {"hecate:version": version})
    report = reporting.rollout(expect=1)  # each stack as its file says
    assert (report["result"], report["failed_wave"]) == ("rolled back", "edge"), report
    assert "HealthCheckFailed" in report["failure"], report["failure"]

    # Edge's own Flux failed the commit, in Flux's words; dev's status on its commit stands.
    edge_commit = reporting.deploy_commit("edge-cluster", bad)

    def edge_failed() -> tuple[str, str] | None:
        found = reporting.statuses(edge_commit).get("hecate/edge-cluster")
        return found if found and found[0] == "failure" else None

    _, description = wait_for("edge's failure on its commit", edge_failed, LOADED_BOUND)
    assert "health check failed" in description, description
    dev_commit = reporting.deploy_commit("dev-cluster", "0.9.3")
    assert reporting.statuses(dev_commit)["hecate/dev-cluster"][0] == "success"

    recorded = reporting.github.recorded
    runs = [d for d in recorded.deployments if d["payload"].get("version") in ("0.9.3", bad)]
    runs += [d for d in recorded.deployments if d["payload"].get("rollback") == "true"]
    by_cluster: dict[str, list[tuple[str, str]]] = {}
    for d in runs:
        for s in d["statuses"]:
            by_cluster.setdefault(d["environment"], []).append((d["description"], s["state"]))
    assert by_cluster["dev-cluster"] == [
        ("hecate-daemon 0.9.3 (wave dev)", "in_progress"),
        ("hecate-daemon 0.9.3 (wave dev)", "success"),
    ]
    rollback = "rollback to hecate-daemon 0.9.2 (wave edge failed)"
    assert by_cluster["edge-cluster"] == [
        (f"hecate-daemon {bad} (wave edge)", "in_progress"),
        (f"hecate-daemon {bad} (wave edge)", "failure"),
        (rollback, "in_progress"),
        (rollback, "success"),
    ]
    assert "beam-cluster" not in by_cluster  # never started
    # Edge runs what it ran before; the stack files say what main would (as committed).
    image = f"{IMAGE}:0.9.2"
    assert project.running_image("edge-cluster") == (image, [image])
    subjects = [line.split(" ", 1)[1] for line in project.remote_log()]
    assert subjects[0] == f"rollback(edge-cluster): hecate-daemon 0.9.2 (from {bad})"

    # The forge's token is in the cluster's Secret alone: not in the tree, a report or a log.
    said = project.fleet_cmd("status").text + str(report)
    assert STATUS_TOKEN not in said and DEPLOY_TOKEN not in said
    tree = [p for p in Path(project.checkout).rglob("*") if p.is_file() and ".git" not in p.parts]
    assert not [p for p in tree if STATUS_TOKEN in p.read_text(errors="replace")]
    exported = project.project.pulumi("stack", "export", "--stack", "edge").text
    assert STATUS_TOKEN not in exported and DEPLOY_TOKEN not in exported
