"""main.yml's jobs, generated from the rollout plan: current in the repository, and one job per
wave that needs an approval, in that wave's environment, checked by the workflow harness."""

from __future__ import annotations

import yaml

from hecate.fleet import workflow
from hecate.fleet.plan import parse_plan
from testbed.mocks import ROOT, stack_names
from testbed.workflows import Harness

STACKS = stack_names()
PLAN = """\
waves:
  - {name: dev, stacks: [dev]}
  - {name: edge, stacks: [edge], approval: required}
  - {name: "beam's", stacks: [beam], approval: required}
"""


def generated_spec() -> dict:
    plan = parse_plan(yaml.safe_load(PLAN), ["beam", "dev", "edge"])
    text = workflow.generated((ROOT / workflow.WORKFLOW).read_text(), plan)
    return yaml.safe_load(text)


def test_main_yml_is_what_the_committed_plan_makes():
    assert workflow.main(["--check", "--root", str(ROOT)]) == 0


def test_a_stale_main_yml_is_named(tmp_path, capsys):
    for name in ("Pulumi.yaml", "rollout-plan.yaml", *(f"Pulumi.{s}.yaml" for s in STACKS)):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    main = (ROOT / workflow.WORKFLOW).read_text()
    (tmp_path / workflow.WORKFLOW).write_text(main.replace("--awaiting-output", "--out"))
    assert workflow.main(["--check", "--root", str(tmp_path)]) == 1
    assert "main.yml is out of date: run `make generate`" in capsys.readouterr().err
    assert workflow.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / workflow.WORKFLOW).read_text() == main


def test_each_wave_that_needs_an_approval_is_a_job_in_its_environment():
    jobs = generated_spec()["jobs"]
    assert list(jobs) == ["rollout", "approve_edge", "approve_beam_s"]
    assert "environment" not in jobs["rollout"] and "needs" not in jobs["rollout"]
    edge, beam = jobs["approve_edge"], jobs["approve_beam_s"]
    assert (edge["environment"], beam["environment"]) == ("edge", "beam's")
    assert edge["needs"] == ["rollout"] and beam["needs"] == ["rollout", "approve_edge"]
    # Whichever job before stopped at the wave starts it, even when a job between was skipped.
    assert edge["if"] == "always() && (needs.rollout.outputs.awaiting == 'edge')"
    assert beam["if"] == (
        "always() && (needs.rollout.outputs.awaiting == 'beam''s' || "
        "needs.approve_edge.outputs.awaiting == 'beam''s')"
    )

    def rollout_step(job: dict) -> str:
        return next(s["run"] for s in job["steps"] if s.get("id") == "rollout")

    assert "--approve" not in rollout_step(jobs["rollout"])
    assert "--plain --approve edge \\\n" in rollout_step(edge)
    assert "--plain --approve 'beam'\"'\"'s' \\\n" in rollout_step(beam)
    for job in jobs.values():
        assert job["outputs"] == {"awaiting": "${{ steps.rollout.outputs.awaiting }}"}
        assert '--awaiting-output "$GITHUB_OUTPUT"' in rollout_step(job)


def test_the_generated_workflow_passes_the_harness_checks(tmp_path):
    secrets = dict.fromkeys(
        [
            "PULUMI_BACKEND_URL",
            "PULUMI_CONFIG_PASSPHRASE",
            "FLEET_KUBECONFIG",
            "GITOPS_PUSH_TOKEN",
            "GITHUB_TOKEN",
        ],
        "x",
    )
    Harness(tmp_path, {}, secrets).validate(generated_spec(), "main.yml")


def test_every_rollout_step_may_record_its_clusters_deployments():
    spec = generated_spec()
    assert spec["permissions"]["deployments"] == "write"
    for job in spec["jobs"].values():
        step = next(s for s in job["steps"] if s.get("id") == "rollout")
        assert step["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
