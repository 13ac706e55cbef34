"""testbed/rollout_project.py and the stack settings it writes (testbed/scratch.py): the runner
environment (what a runner writes to its temporary directory, the engine's event logs left
behind when a test kills the runner on purpose, lands under the test's work directory, never in
the machine's /tmp); the plan of the committed stacks, whole or a subset (the rollout bench's
smoke mode rolls dev alone); and the plain settings written into a stack file as `pulumi config
set --path` would write them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from hecate.fleet.plan import parse_plan
from testbed.rollout_project import committed_plan, runner_env
from testbed.scratch import set_plain


def test_a_runner_s_scratch_files_land_under_its_work_directory(tmp_path):
    fleet = SimpleNamespace(kubeconfig=tmp_path / "fleet" / "kubeconfig")
    env = runner_env(fleet, tmp_path / "waves")
    made = subprocess.run(
        [sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp(prefix='hecate-engine-'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(made).parent == tmp_path / "waves" / "tmp"
    assert env["KUBECONFIG"] == str(fleet.kubeconfig)
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'waves' / 'state'}"


@pytest.mark.parametrize(
    ("stacks", "waves"),
    [
        (("beam", "dev", "edge"), [["dev"], ["edge"], ["beam"]]),
        (("dev",), [["dev"]]),
        (("beam", "edge"), [["edge"], ["beam"]]),
    ],
)
def test_the_committed_stacks_roll_out_a_wave_each_dev_first_with_its_own_soak(stacks, waves):
    plan = committed_plan(stacks, "4s")
    assert [wave["stacks"] for wave in plan["waves"]] == waves
    assert [w.get("soak") for w in plan["waves"]] == ["4s" if w == ["dev"] else None for w in waves]
    parsed = parse_plan(plan, sorted(stacks))  # what `fleet rollout` makes of it
    assert [list(wave.stacks) for wave in parsed.waves] == waves
    assert [w.soak_seconds for w in parsed.waves] == [4.0 if w == ["dev"] else 0.0 for w in waves]


def test_plain_settings_merge_into_the_stack_file_and_keep_what_it_had(tmp_path):
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(
        "config:\n"
        "  hecate:cluster: dev-cluster\n"
        "  hecate:gitops:\n"
        "    branch: main\n"
        "    url: https://example.invalid/gitops\n"
        "  hecate:apiKeys:\n"
        "    OPENAI_API_KEY:\n"
        "      secure: v1:c2VjcmV0\n"
        "encryptionsalt: v1:c2FsdA==\n"
    )
    set_plain(
        stack_file,
        {
            "hecate:gitops": {"url": "http://127.0.0.1:9/g", "secretRef": ""},
            "hecate:healthTimeout": "30s",
        },
    )
    assert yaml.safe_load(stack_file.read_text()) == {
        "config": {
            "hecate:cluster": "dev-cluster",
            "hecate:gitops": {"branch": "main", "url": "http://127.0.0.1:9/g", "secretRef": ""},
            "hecate:apiKeys": {"OPENAI_API_KEY": {"secure": "v1:c2VjcmV0"}},
            "hecate:healthTimeout": "30s",
        },
        "encryptionsalt": "v1:c2FsdA==",
    }
