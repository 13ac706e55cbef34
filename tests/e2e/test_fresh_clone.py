"""A newcomer's clone: `make up` of a stack, then `make test`, with nothing beside the clone.

The first `make up` writes the passphrase's salt into Pulumi.<stack>.yaml, and a stack given API
keys holds them there as `secure:` values; neither may break the tests, and the tests may not
change a committed file. The clone runs the README's own make targets; to stay quick it reuses
this run's engine cache and virtualenvs, and runs the tests that such a stack file once broke.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hecate.project import STACK_FILE
from testbed import certs
from testbed.paths import BIN, CACHE, ROOT
from testbed.scratch import CHECKOV, POLICY_VENV, portable_stack_file

STACK = "beam"
# The tests a stack file with a salt and secure values broke, run through `make test`.
SELECTION = " ".join(
    [
        f"tests/e2e/test_engine.py::test_stack_lifecycle[{STACK}]",
        f"tests/e2e/test_policy_pack.py::test_every_committed_stack_passes_the_pack[{STACK}]",
        "tests/test_cluster.py",
        "tests/test_daemon.py",
        "tests/test_sealed_secrets.py",
        "tests/test_schemas.py",
    ]
)
CANARY = "sk-fresh-clone-canary-3c59dc048e88"


def git(clone: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=clone, capture_output=True, text=True, check=True
    ).stdout


def snapshot(destination: Path) -> Path:
    """A git clone of the working tree as it stands (what a commit of it would hold), its stack
    files as they were before this checkout's own `make up`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():
            continue
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        if STACK_FILE.fullmatch(name):
            # As committed before anyone's `make up`: no salt or secrets of this checkout's backend.
            portable_stack_file(source, destination / name)
        else:
            shutil.copy2(source, destination / name)
    git(destination, "init", "-q")
    git(destination, "add", "-A")
    git(
        destination,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "snapshot",
    )
    # Reuse this run's virtualenvs rather than install them again (the Makefile's own recipes
    # made them); `make -o` keeps make from rebuilding them.
    (destination / ".venv").symlink_to(sys.prefix)
    (destination / "policy" / ".venv").symlink_to(POLICY_VENV)
    (destination / ".tools").symlink_to(CHECKOV.parents[2])
    return destination


def make(clone: Path, *args: str) -> subprocess.CompletedProcess:
    stamps = [
        ".venv/.installed",
        ".venv/.dev-installed",
        "policy/.venv/.installed",
        *(str(p.relative_to(ROOT)) for p in (ROOT / ".tools" / "checkov").glob(".installed-*")),
    ]
    # A newcomer's environment: none of this run's Pulumi settings or make flags.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "MAKE", "MFLAGS", "PYTEST_")) and k != "KUBECONFIG"
    }
    env["HECATE_CACHE"] = str(CACHE)
    return subprocess.run(
        ["make", *(f"-o{s}" for s in stamps), *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def makefile_env(clone: Path) -> dict[str, str]:
    """What the Makefile gives a pulumi command by default: the clone's own state and passphrase."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        PULUMI_HOME=str(CACHE / "pulumi-home"),
        PULUMI_BACKEND_URL=f"file://{clone}/.pulumi-state",
        PULUMI_CONFIG_PASSPHRASE="hecate-local-state",
        PULUMI_SKIP_UPDATE_CHECK="true",
    )
    return env


def assert_make_test_passes_and_changes_nothing(clone: Path) -> None:
    before = git(clone, "status", "--porcelain")
    done = make(clone, "test", f"PYTEST_ARGS={SELECTION}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and " failed" not in done.stdout and " error" not in done.stdout
    assert git(clone, "status", "--porcelain") == before


@pytest.fixture
def clone(tmp_path) -> Path:
    clone = snapshot(tmp_path / "hecate-infra")
    assert not (clone.parent / "shared").exists() and os.listdir(clone.parent) == ["hecate-infra"]
    return clone


def test_make_up_then_make_test_in_a_clone_with_nothing_beside_it(clone):
    done = make(clone, "up", f"STACK={STACK}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (clone / "gitops/clusters/beam-cluster/hecate-kustomization.yaml").is_file()
    stack_file = (clone / f"Pulumi.{STACK}.yaml").read_text()
    assert "encryptionsalt:" in stack_file  # what once broke every e2e test
    assert git(clone, "status", "--porcelain").split() == ["M", f"Pulumi.{STACK}.yaml"]
    assert_make_test_passes_and_changes_nothing(clone)

    # The stack now seals keys: its file holds a certificate and `secure:` values beside the salt.
    env = makefile_env(clone)
    cert_pem, _ = certs.controller(11)
    for args in (
        ["hecate:sealingCert", "--", cert_pem],
        ["--secret", "--path", "hecate:apiKeys.OPENAI_API_KEY", CANARY],
    ):
        subprocess.run(
            [str(BIN / "pulumi"), "config", "set", "--stack", STACK, *args],
            cwd=clone,
            env=env,
            check=True,
            capture_output=True,
        )
    done = make(clone, "up", f"STACK={STACK}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stack_file = (clone / f"Pulumi.{STACK}.yaml").read_text()
    assert "secure:" in stack_file and CANARY not in stack_file
    assert (clone / "gitops/infrastructure/hecate/beam-cluster/sealed-secret.yaml").is_file()
    assert_make_test_passes_and_changes_nothing(clone)
