"""The release road, driven as the team drives it: the workflows as written (release.yml,
pull-request.yml, main.yml), run by the workflow harness with depth-1 checkouts of local
remotes (hecate-infra: a bare repository; hecate-gitops: the fleet's git server), a real OCI
registry, the fleet's clusters and the fleet tool's own identity; GitHub's API is the
recorder. The tests run in order on one road (each starts where the one before left the
fleet), after the other rollout tests of the session (test_waves*.py)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml

from testbed.github_api import GitHubApiRecorder
from testbed.github_remotes import commit_to, infra_remote, show
from testbed.registry import local_registry, push_tag
from testbed.workflows import Event, Harness, WorkflowRun
from tests.local_fleet.waves import STACKS

NAME = "hecate-social/hecate-daemon"
ROLL_OUT = "Roll out, wave by wave"


class Road:
    def __init__(self, project, harness: Harness, remote, image: str):
        self.project, self.github, self.remote, self.image = project, harness, remote, image
        assert harness.api is not None
        self.api = harness.api  # GitHub's REST API: the recorder

    def deployments_of(self, sha: str) -> dict[str, list[str]]:
        """Each cluster's deployment states of the infra commit `sha`, in order."""
        found: dict[str, list[str]] = {}
        for deployment in self.api.recorded.deployments:
            if deployment["ref"] == sha:
                states = [s["state"] for s in deployment["statuses"]]
                found.setdefault(deployment["environment"], []).extend(states)
        return found

    def stack_files(self, ref: str = "main") -> dict[str, str]:
        return {f"Pulumi.{s}.yaml": show(self.remote, f"Pulumi.{s}.yaml", ref) for s in STACKS}

    def main_holds(self) -> set[str]:
        return {yaml.safe_load(t)["config"]["hecate:version"] for t in self.stack_files().values()}

    def set_on_main(self, old: str, new: str, message: str) -> str:
        """Every stack file's version line changed from `old` to `new` on main; its head."""
        files = {
            name: text.replace(f"hecate:version: {old}", f"hecate:version: {new}")
            for name, text in self.stack_files().items()
        }
        return commit_to(self.remote, files, message)

    def rollout(self, event: Event) -> WorkflowRun:
        return self.github.run("main.yml", event)

    def pods_run(self, version: str) -> None:
        """Every cluster's DaemonSet and pods on the local registry's image at `version`."""
        for stack in STACKS:
            template, pods = self.project.running_image(f"{stack}-cluster")
            wanted = f"{self.image}:{version}"
            assert (template, pods) == (wanted, [wanted]), f"{stack}: {template}, pods {pods}"

    def gitops_head(self) -> str:
        return self.github.head("main", "hecate-gitops")

    def deploys(self, since: str, version: str) -> dict[str, int]:
        subjects = [line.split(" ", 1)[1] for line in self.project.remote_log(since)]
        return {
            s: sum(
                1 for x in subjects if x.startswith(f"deploy({s}-cluster): hecate-daemon {version}")
            )
            for s in STACKS
        }

    def in_background(self, event: Event) -> tuple[threading.Thread, list]:
        done: list = []
        thread = threading.Thread(target=lambda: done.append(self.rollout(event)), daemon=True)
        thread.start()
        return thread, done

    def wait_for_deploy(self, since: str, stack: str, thread: threading.Thread) -> None:
        deadline = time.monotonic() + 600
        while not any(
            f"deploy({stack}-cluster)" in line for line in self.project.remote_log(since)
        ):
            assert thread.is_alive(), "the rollout ended before dev's deploy was pushed"
            assert time.monotonic() < deadline, "no deploy of dev in 600 s"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def road(fleet_project, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("road")
    # Whatever the rollout tests before left (newer versions on some clusters), the road
    # starts with every cluster on 0.7.2 and the stack files saying so.
    report = fleet_project.json("rollout", "0.7.2", "--allow-downgrade", "--plain")
    assert report["result"] == "rolled out", report["failure"]
    with (
        local_registry(workdir / "registry") as host,
        GitHubApiRecorder("the-workflow-token") as api,
    ):
        image = f"{host}/{NAME}"
        push_tag(image, "0.7.2")
        files = {
            f"Pulumi.{s}.yaml": text.replace("config:\n", f"config:\n  hecate:image: {image}\n", 1)
            for s, text in fleet_project.stack_files().items()
        }
        files["rollout-plan.yaml"] = (fleet_project.root / "rollout-plan.yaml").read_text()
        remote = workdir / "hecate-infra.git"
        infra_remote(remote, files)
        env = fleet_project.project.env
        harness = Harness(
            workdir / "github",
            {"hecate-infra": remote, "hecate-gitops": fleet_project.fleet.git_url},
            secrets={
                "PULUMI_BACKEND_URL": env["PULUMI_BACKEND_URL"],
                "PULUMI_CONFIG_PASSPHRASE": env["PULUMI_CONFIG_PASSPHRASE"],
                # What `fleet kubeconfig` wrote: the fleet tool's identity, never an admin's.
                "FLEET_KUBECONFIG": (fleet_project.root / "fleet.kubeconfig").read_text(),
                "GITOPS_PUSH_TOKEN": "a-deploy-token",
                "GITHUB_TOKEN": "the-workflow-token",
                "RELEASE_TOKEN": "a-bot-token",
            },
            variables={"HECATE_PRE_RELEASES": "false"},
            api=api,
        )
        yield Road(fleet_project, harness, remote, image)


def test_the_first_push_rolls_out_what_main_holds(road):
    run = road.rollout(Event("push"))
    assert run.conclusion == "success", run.log
    assert "rolled out" in run.job("rollout").summary
    road.pods_run("0.7.2")


def test_a_tag_in_the_registry_reaches_every_cluster_through_a_reviewed_pull_request(road):
    push_tag(road.image, "0.7.3")
    release = road.github.run("release.yml", Event("schedule"))
    assert release.conclusion == "success", release.log
    [pull] = road.github.github()["pulls"]
    assert pull["head"] == "release/0.7.3"

    review = road.github.run(
        "pull-request.yml",
        Event("pull_request", branch="release/0.7.3", payload={"pull_request": {"number": 1}}),
        jobs=["shards", "preview", "report"],
    )
    assert review.conclusion == "success", review.log
    assert json.loads(review.job("shards").outputs["matrix"]) == ["1/1"]
    [comment] = road.github.github()["pulls"][0]["comments"]
    for stack in STACKS:
        assert f"{stack}-cluster" in comment, comment
    assert "0.7.3" in comment
    road.pods_run("0.7.2")  # a preview changes nothing

    before = road.gitops_head()
    merged = road.github.merge(1)
    thread, done = road.in_background(Event("push", sha=merged))
    # Someone merges an unrelated change while the release rolls out.
    road.wait_for_deploy(before, "dev", thread)
    unrelated = commit_to(road.remote, {"docs/notes.md": "on-call rota\n"}, "docs: the rota")
    thread.join(900)
    [run] = done
    assert run.conclusion == "success", run.log
    road.pods_run("0.7.3")
    assert road.main_holds() == {"0.7.3"}
    assert road.deploys(before, "0.7.3") == dict.fromkeys(STACKS, 1)
    # On GitHub's environments page: each cluster deployed the merge, linked to its run.
    assert road.deployments_of(merged) == {
        f"{s}-cluster": ["in_progress", "success"] for s in STACKS
    }
    assert road.api.recorded.unknown == []

    # The run the unrelated merge queued finds the fleet in step: nothing moves, nothing pushed.
    head = road.gitops_head()
    queued = road.rollout(Event("push", sha=unrelated))
    assert queued.conclusion == "success", queued.log
    assert road.gitops_head() == head
    road.pods_run("0.7.3")


def test_a_stale_branch_that_sets_the_version_back_is_refused_until_a_dispatch_allows_it(road):
    sha = road.set_on_main("0.7.3", "0.7.2", "tidy the stack files (from an old branch)")
    head = road.gitops_head()
    refused = road.rollout(Event("push", sha=sha))
    step = refused.job("rollout").step(ROLL_OUT)
    assert (refused.conclusion, step.code) == ("failure", 2), refused.log
    for stack in STACKS:
        assert (
            f"stack {stack} ({stack}-cluster): its pods run 0.7.3, the rollout would deploy 0.7.2"
            in step.log
        )
    assert road.gitops_head() == head
    road.pods_run("0.7.3")

    back = road.rollout(Event("workflow_dispatch", inputs={"allow_downgrade": True}))
    assert back.conclusion == "success", back.log
    road.pods_run("0.7.2")
    assert road.deploys(head, "0.7.2") == dict.fromkeys(STACKS, 1)


def test_a_rollout_killed_after_dev_s_push_is_carried_on_by_the_next_run_from_depth_1_clones(road):
    sha = road.set_on_main("0.7.2", "0.7.3", "Merge pull request #2 from release/0.7.3")
    before = road.gitops_head()
    thread, done = road.in_background(Event("push", sha=sha))
    road.wait_for_deploy(before, "dev", thread)
    road.github.kill()
    thread.join(120)
    [killed] = done
    assert killed.conclusion == "failure"

    again = road.rollout(Event("workflow_dispatch"))
    assert again.conclusion == "success", again.log
    log = again.job("rollout").step(ROLL_OUT).log
    assert "deepen" in log, log
    road.pods_run("0.7.3")
    assert road.deploys(before, "0.7.3") == dict.fromkeys(STACKS, 1)


def test_a_wave_that_needs_an_approval_waits_for_its_environment(road):
    """Last on the road: beam's wave gets `approval: required` (main.yml regenerated, as `make
    generate` does), and the merge that moves the fleet to 0.7.4 stops before beam until the
    `beam` environment approves; then a re-run carries the rollout on."""
    from hecate.fleet import workflow
    from hecate.fleet.plan import parse_plan

    document = yaml.safe_load(show(road.remote, "rollout-plan.yaml", "main"))
    (beam_wave,) = [w for w in document["waves"] if w["stacks"] == ["beam"]]
    beam_wave["approval"] = "required"
    plan_text = yaml.safe_dump(document, sort_keys=False)
    plan = parse_plan(yaml.safe_load(plan_text), STACKS)
    assert [w.approval_required for w in plan.waves] == [False, False, True], plan_text
    main_yml = workflow.generated(show(road.remote, str(workflow.WORKFLOW), "main"), plan)
    files = {
        name: text.replace("hecate:version: 0.7.3", "hecate:version: 0.7.4")
        for name, text in road.stack_files().items()
    }
    files.update({"rollout-plan.yaml": plan_text, str(workflow.WORKFLOW): main_yml})
    sha = commit_to(road.remote, files, "Merge pull request #3 from release/0.7.4")
    before = road.gitops_head()

    waiting = road.rollout(Event("push", sha=sha))
    assert waiting.conclusion == "waiting", waiting.log
    assert waiting.job("rollout").outputs == {"awaiting": "beam"}
    assert waiting.job("approve_beam").result == "waiting"
    assert "Wave beam waits for approval" in waiting.job("rollout").summary
    assert road.deploys(before, "0.7.4") == {"dev": 1, "edge": 1, "beam": 0}
    template, _ = road.project.running_image("beam-cluster")
    assert template == f"{road.image}:0.7.3"

    road.github.approved_environments.add("beam")
    approved = road.rollout(Event("push", sha=sha))
    assert approved.conclusion == "success", approved.log
    assert approved.job("rollout").outputs == {"awaiting": "beam"}  # it stops there again
    assert "rolled out" in approved.job("approve_beam").summary
    road.pods_run("0.7.4")
    assert road.deploys(before, "0.7.4") == dict.fromkeys(STACKS, 1)
