"""`python -m hecate fleet`: bad input is refused with exit 2 before anything runs."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from hecate.fleet import cli


def run(committed_copy, capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["--root", str(committed_copy), *args])
    captured = capsys.readouterr()
    return code, captured.err


def test_a_mutable_or_malformed_version_is_refused_naming_the_setting(committed_copy, capsys):
    code, err = run(committed_copy, capsys, "rollout", "latest")
    assert code == 2
    assert "stack dev: hecate:version: 'latest' is a mutable tag" in err
    assert not (committed_copy / ".rollout").exists(), "nothing may be written for bad input"


def test_a_bad_plan_is_refused_before_anything_runs(committed_copy, capsys):
    (committed_copy / "rollout-plan.yaml").write_text("waves: [{stacks: [dev]}, {stacks: [dev]}]\n")
    code, err = run(committed_copy, capsys, "rollout", "0.7.3")
    assert code == 2
    assert "waves[1].stacks: 'dev' is already in wave 'wave 1'; a stack belongs to one wave" in err
    assert not (committed_copy / ".rollout").exists()


def test_another_rollout_left_unfinished_is_named(committed_copy, capsys, monkeypatch):
    """Its journal is in the gitops remote, where a fresh clone on another runner finds it.
    (No cluster here: the pre-flight's questions to the clusters are answered yes; they are
    tested in test_fleet_preflight.py and on the fleet.)"""
    from hecate.fleet.cluster_health import ClusterClient
    from hecate.fleet.gitops_repo import GitopsCheckout

    monkeypatch.setattr(ClusterClient, "may", lambda self, *need: True)
    monkeypatch.setattr(ClusterClient, "token", lambda self: "")
    from hecate.fleet.remote_state import LOCK_REF, RemoteJournal
    from tests.test_fleet_remote_state import gitops_remote

    checkout = gitops_remote(committed_copy.parent / "remote.git", committed_copy / "gitops")
    RemoteJournal(GitopsCheckout(checkout, "main")).save(
        {"version": "0.7.3", "bases": {}, "waves_done": ["dev"], "before": {}}, {}
    )
    kubeconfig = kubeconfig_of(committed_copy.parent / "fleet.kubeconfig")
    code, err = run(committed_copy, capsys, "--kubeconfig", str(kubeconfig), "rollout", "0.7.4")
    assert code == 2
    assert "a rollout of 0.7.3 was interrupted" in err
    assert "`hecate fleet rollout 0.7.3`" in err
    assert "refs/hecate/rollout-journal in the gitops remote" in err
    # The way to give it up works as written, from the project's directory: then the other
    # version is no longer refused for it.
    give_up = err.split("with `")[-1].split("`")[0]
    subprocess.run(give_up, shell=True, cwd=committed_copy, check=True, capture_output=True)
    assert GitopsCheckout(checkout, "main").git("ls-remote", "origin", "refs/hecate/*") == ""
    from hecate.fleet.journal import Journal

    journal, resumed = Journal.open(
        committed_copy, "0.7.4", RemoteJournal(GitopsCheckout(checkout, "main"))
    )
    assert (journal.version, resumed) == ("0.7.4", False)
    # Refused, the run took the lock and gave it back.
    assert GitopsCheckout(checkout, "main").git("ls-remote", "origin", LOCK_REF) == ""


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("１h", "is not a duration"),  # a fullwidth digit: not a number the API server takes
        ("24 h", "is not a duration"),
        ("9m", "is under 10m"),
        ("0s", "is no time at all; a token lasts from 10m to 30d"),
        ("0h", "is no time at all"),
        ("31d", "is over 30d, the longest token this tool issues"),
        ("100000h", "is over 30d"),
    ],
)
def test_a_bad_token_duration_is_bad_input_and_asks_no_cluster(
    committed_copy, capsys, duration, message
):
    code, err = run(committed_copy, capsys, "kubeconfig", "--duration", duration, "--output", "k")
    assert code == 2, err
    assert f"fleet kubeconfig: --duration: {duration!r} {message}" in err
    assert not (committed_copy / "k").exists()


@pytest.mark.parametrize(
    ("output", "message"),
    [("missing/dir/fleet.kubeconfig", "there is no directory"), (".", "is a directory")],
)
def test_an_output_that_cannot_be_written_is_bad_input_before_any_token(
    committed_copy, capsys, tmp_path, output, message
):
    # An admin kubeconfig that names no cluster: had a token been asked for, it would say so.
    admin = tmp_path / "admin.kubeconfig"
    admin.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    code, err = run(
        committed_copy, capsys, "--kubeconfig", str(admin), "kubeconfig", "--output", output
    )
    assert code == 2, err
    assert f"fleet kubeconfig: --output: {output}" in err and message in err
    assert len(err.strip().splitlines()) == 1, err


def test_an_unreadable_admin_kubeconfig_is_bad_input(committed_copy, capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, err = run(
        committed_copy, capsys, "--kubeconfig", str(missing), "kubeconfig", "--output", "k"
    )
    assert code == 2 and f"--kubeconfig: cannot read {missing}" in err


def alias_bomb(key: str) -> str:
    """A few hundred bytes that stand for 9**9 strings once the aliases are expanded."""
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(rows) + f"\n{key}\n"


@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("rollout-plan.yaml", alias_bomb("waves: [{stacks: *a8}]")),
        ("Pulumi.dev.yaml", alias_bomb("config: {hecate:nodeSelector: {a: *a8}}")),
    ],
)
def test_an_alias_bomb_is_refused_in_one_line_without_expanding_it(
    committed_copy, capsys, file, text
):
    import tracemalloc

    (committed_copy / file).write_text(text)
    tracemalloc.start()
    try:
        code, err = run(committed_copy, capsys, "rollout", "0.7.3", "--dry-run")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2, err
    assert f"{file}: refused: more than 200000 YAML nodes" in err, err
    assert "Traceback" not in err
    assert peak < 200 * 1024 * 1024, f"{peak} bytes at the peak"
    assert not (committed_copy / ".rollout").exists()


@pytest.mark.parametrize("version", ["0.7.3-" + "a" * 58, "0.7.3-" + "r" * 100, "0.8.0-rc."])
def test_a_version_no_label_can_hold_is_refused_before_anything_runs(
    committed_copy, capsys, version
):
    code, err = run(committed_copy, capsys, "rollout", version)
    assert code == 2, err
    assert f"hecate:version: {version!r} is not a release version" in err
    assert "at most 63 characters" in err
    assert not (committed_copy / ".rollout").exists()


def kubeconfig_of(
    path, clusters: tuple[str, ...] = ("dev-cluster", "edge-cluster", "beam-cluster")
):
    """A kubeconfig naming these contexts (with servers that answer nothing)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": c, "cluster": {"server": "https://127.0.0.1:1"}} for c in clusters
                ],
                "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in clusters],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "current-context": clusters[0],
            }
        )
    )
    return path


def test_a_kubeconfig_without_a_context_the_plan_needs_is_refused_before_anything(
    committed_copy, capsys, tmp_path
):
    """Found before the first commit, not when beam's turn comes after dev and edge moved."""
    kubeconfig = kubeconfig_of(tmp_path / "fleet.kubeconfig", ("dev-cluster", "edge-cluster"))
    # Its current context the one it lacks, as a kubeconfig with beam's entry cut out has it.
    kubeconfig.write_text(
        kubeconfig.read_text().replace(
            "current-context: dev-cluster", "current-context: beam-cluster"
        )
    )
    code, err = run(committed_copy, capsys, "--kubeconfig", str(kubeconfig), "rollout", "0.7.3")
    assert code == 2, err
    assert (
        f"stack beam: the kubeconfig {kubeconfig} has no context 'beam-cluster' "
        "(it has: dev-cluster, edge-cluster)" in err
    )
    assert "stack dev" not in err and "stack edge" not in err
    assert "refused before anything changed" in err
    assert not (committed_copy / ".rollout").exists()
    assert "Traceback" not in err


def test_abort_takes_no_version_or_other_rollout_options(committed_copy, capsys):
    for extra in (["0.7.3"], ["--approve", "beam"], ["--only", "edge"], ["--dry-run"]):
        code, err = run(committed_copy, capsys, "rollout", "--abort", *extra)
        assert code == 2, extra
        assert "--abort ends the unfinished rollout, whichever version it is" in err


def test_a_kubeconfig_holds_a_token_the_api_server_issued_for_each_gitops_stack(
    committed_copy, capsys, tmp_path
):
    from tests.fake_api import fake_api_server

    token = "/api/v1/namespaces/flux-system/serviceaccounts/hecate-fleet/token"
    issued = {"status": {"token": "issued-token", "expirationTimestamp": "2026-12-08T10:00:00Z"}}
    admin = tmp_path / "admin.kubeconfig"
    contexts = ("dev-cluster", "edge-cluster", "beam-cluster")
    with fake_api_server({token: issued}, admin, *contexts) as seen:
        output = ["--output", str(tmp_path / "fleet.kubeconfig"), "--json"]
        code = cli.main(
            ["--root", str(committed_copy), "--kubeconfig", str(admin), "kubeconfig", *output]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    written = yaml.safe_load((tmp_path / "fleet.kubeconfig").read_text())
    assert {u["user"]["token"] for u in written["users"]} == {"issued-token"}
    assert sorted(c["name"] for c in written["contexts"]) == sorted(contexts)
    asked = [body for method, path, _, body in seen if (method, path) == ("POST", token)]
    assert len(asked) == 3 and all(b["spec"]["expirationSeconds"] == 86400 for b in asked)
    assert "2026-12-08T10:00:00+00:00" in out, out
