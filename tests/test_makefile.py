"""The Makefile refuses what would silently go wrong, before it installs or runs anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hecate.naming import engine_cache
from hecate.project import pulumi_env, stack_names
from testbed.doc_pages import shell_blocks
from testbed.paths import ROOT


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "MAKE", "MFLAGS"))}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unknown_stack_is_refused_with_the_known_ones():
    done = make("up", "STACK=typo")
    assert done.returncode == 2
    known = " ".join(stack_names(ROOT))
    assert f"no stack file Pulumi.typo.yaml for STACK=typo; known stacks: {known}" in done.stderr
    assert "pulumi" not in done.stdout  # refused before anything ran


def test_a_shared_backend_never_gets_the_local_passphrase():
    done = make("preview", "STACK=beam", PULUMI_BACKEND_URL="s3://team-state")
    assert done.returncode == 2
    assert (
        "PULUMI_BACKEND_URL is s3://team-state, a shared backend: set PULUMI_CONFIG_PASSPHRASE"
        in done.stderr
    )
    assert (
        make(
            "stack-settings",
            "STACK=beam",
            PULUMI_BACKEND_URL="s3://team-state",
            PULUMI_CONFIG_PASSPHRASE="from-the-team-vault",
        ).returncode
        == 0
    )
    # The local backend keeps its default, as the README's two commands need.
    assert make("stack-settings", "STACK=beam").returncode == 0


def test_the_unit_suite_is_the_top_level_tests_alone():
    """`make unit` (and so `make bench`) never runs a test that needs the engine or a cluster:
    those live in directories below tests/, which its selection cannot reach."""
    done = make("-n", "unit")
    assert done.returncode == 0, done.stderr
    command = next(line for line in done.stdout.splitlines() if "-m pytest" in line)
    selected = [word for word in command.split() if word.startswith("tests")]
    assert selected == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py"))
    assert not any(s.startswith(("tests/e2e", "tests/local_fleet")) for s in selected)


def test_each_fleet_module_is_in_one_group_and_each_group_gets_a_fleet():
    """`make test` runs the fleet tier with `--dist loadgroup`, a worker (and so a fleet) per
    group: every module of tests/local_fleet is in the table, no entry names a module that is
    gone, and there are as many workers as groups."""
    from tests.local_fleet.conftest import FLEET_GROUPS

    modules = sorted(p.name for p in (ROOT / "tests" / "local_fleet").glob("test_*.py"))
    assert sorted(FLEET_GROUPS) == modules
    done = make("-n", "test")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    words = next(line for line in lines if line.endswith("tests/local_fleet")).split()
    assert words[words.index("--dist") + 1] == "loadgroup"
    assert int(words[words.index("-n") + 1]) == len(set(FLEET_GROUPS.values()))


def _pulumi_vars(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PULUMI_") or k == "HECATE_CACHE"}


def test_make_and_the_tools_give_pulumi_one_environment(tmp_path):
    """`make up` and the tools (verify, fleet, adopt) reach the same backend with the same
    passphrase and engine: with nothing set, and with a shared backend set by the caller."""
    for given in ({}, {"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE": "v"}):
        base = {**{k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}, **given}
        base["HECATE_CACHE"] = str(tmp_path / "cache")
        done = make("pulumi-env", **base)
        assert done.returncode == 0, done.stderr
        from_make = dict(line.split("=", 1) for line in done.stdout.splitlines())
        assert from_make == _pulumi_vars(pulumi_env(ROOT, base))


def test_one_line_gives_a_fresh_shell_the_engine_the_hecate_command_and_the_backend():
    """`eval "$(make -s env)"` (the README's block, as written), in a shell with only the
    system's PATH: pulumi and hecate are found, and pulumi gets the environment make gives it
    (quoted: a passphrase with a quote)."""
    (readme_block,) = [
        b for b in shell_blocks(ROOT / "README.md") if b.run_by == "tests/test_makefile.py"
    ]
    assert readme_block.text.startswith('eval "$(make -s env)"')
    script = (
        f"set -e\n{readme_block.text}\ncommand -v pulumi && command -v hecate && "
        "hecate fleet --help >/dev/null && env | grep -E '^(PULUMI_[A-Z_]+|HECATE_CACHE)=' | sort"
    )
    given = {"PULUMI_BACKEND_URL": "s3://team-state", "PULUMI_CONFIG_PASSPHRASE": "it's a 'secret'"}
    cache = os.environ.get("HECATE_CACHE", os.path.expanduser("~/.cache/hecate"))
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ["HOME"], **given}
    base["HECATE_CACHE"] = cache
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == os.path.join(cache, "bin", "pulumi")
    assert lines[1] == str(ROOT / ".venv" / "bin" / "hecate")
    shell_env = dict(line.split("=", 1) for line in lines[2:])
    assert shell_env == _pulumi_vars(pulumi_env(ROOT, base))
    assert shell_env["PULUMI_CONFIG_PASSPHRASE"] == "it's a 'secret'"


def test_the_cache_has_one_default_wherever_it_is_computed(tmp_path):
    """$HECATE_CACHE unset: the Makefile, the install scripts and the program all mean the same
    directory (a script that chose another would build where nothing looks)."""
    home = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    from_make = subprocess.run(
        ["make", "--no-print-directory", "-s", "pulumi-env"],
        cwd=ROOT,
        env=home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert from_make.returncode == 0, from_make.stderr
    wanted = str(tmp_path / ".cache" / "hecate")
    assert f"HECATE_CACHE={wanted}" in from_make.stdout.splitlines()
    assert engine_cache({}) == Path.home() / ".cache" / "hecate"  # this HOME's, the same rule
    for script in ("install-pulumi", "install-testbed"):
        (line,) = [
            s
            for s in (ROOT / "scripts" / script).read_text().splitlines()
            if s.startswith("CACHE=")
        ]
        said = subprocess.run(
            ["bash", "-c", f'{line}\nprintf %s "$CACHE"'],
            env=home,
            capture_output=True,
            text=True,
            check=True,
        )
        assert said.stdout == wanted, script


def test_make_learns_a_stack_s_delivery_from_the_program(committed_copy):
    """`make up`/`preview` build the kubernetes provider first for a `direct` stack alone: they
    ask `python -m hecate.project delivery STACK`, which parses the settings as the program does
    (the project's default, the stack's own value over it)."""

    def delivery(stack: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hecate.project", "delivery", stack],
            cwd=committed_copy,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    assert {s: delivery(s).stdout.strip() for s in ("beam", "edge")} == dict.fromkeys(
        ("beam", "edge"), "gitops"
    )
    edge = committed_copy / "Pulumi.edge.yaml"
    edge.write_text(edge.read_text() + "  hecate:delivery: direct\n")
    assert delivery("edge").stdout.strip() == "direct"
    makefile = (ROOT / "Makefile").read_text()
    stack_recipe = makefile[makefile.index("\nstack: ") : makefile.index("\nvenv: ")]
    assert "-m hecate.project delivery $(STACK)" in stack_recipe
    assert "kubernetes-provider" in stack_recipe


def test_the_engine_script_refuses_what_it_does_not_know():
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-pulumi"), "--only", "everything"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "usage: " in done.stderr and "--only crds|kubernetes-provider" in done.stderr
