"""The rollout's lock and journal in the gitops remote (a bare repository here, the test bed's
git server in tests/local_fleet): taken atomically, refused naming the holder, taken over only
from a holder that provably died, and read back by a fresh clone."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hecate.fleet import processes, remote_state
from hecate.fleet.gitops_repo import GitError, GitopsCheckout
from hecate.fleet.remote_state import (
    JOURNAL_REF,
    LOCK_REF,
    Holder,
    LockHeld,
    LockLost,
    RemoteJournal,
    RemoteLock,
)

IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def gitops_remote(bare: Path, clone: Path) -> Path:
    """A bare repository with one commit on main, and a clone of it."""
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, env=env)
    (clone / "README.md").write_text("gitops\n")
    for args in (["add", "README.md"], ["commit", "-qm", "init"], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=clone, check=True, env=env)
    return clone


@pytest.fixture
def clones(tmp_path) -> tuple[GitopsCheckout, GitopsCheckout]:
    """Two runners' checkouts of one remote."""
    first = gitops_remote(tmp_path / "remote.git", tmp_path / "one")
    second = tmp_path / "two"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "remote.git"), str(second)], check=True)
    return GitopsCheckout(first, "main"), GitopsCheckout(second, "main")


def test_one_runner_holds_the_lock_and_the_other_is_refused_naming_it(clones):
    one, two = clones
    with RemoteLock(one, "0.7.4") as held:
        with pytest.raises(LockHeld) as refused:
            RemoteLock(two, "0.7.5").take()
        message = str(refused.value)
        assert f"a rollout of 0.7.4 by pid {os.getpid()} on " in message
        assert held.holder.runner[:12] in message and "since " in message
    # Released on exit: the other runner gets it now.
    with RemoteLock(two, "0.7.5"):
        assert one.git("ls-remote", "origin", LOCK_REF)
    assert one.git("ls-remote", "origin", LOCK_REF) == ""


def test_a_runner_that_waits_is_told_who_holds_the_fleet_from_the_first_second(clones):
    one, two = clones
    told: list[tuple[str, float]] = []
    with RemoteLock(one, "0.7.4"):
        waiting = RemoteLock(
            two, "0.7.5", 1.5, lambda h, seen, waited: told.append((h.version, waited))
        )
        with pytest.raises(LockHeld):
            waiting.take()
    # At once, before the first pause, and only ever about the one holding it.
    assert told and told[0][1] < 1.0, told
    assert {version for version, _ in told} == {"0.7.4"}


def test_a_lock_whose_process_is_gone_from_this_host_is_taken_over(clones):
    one, two = clones
    dead = RemoteLock(one, "0.7.4")
    # This host, a pid no process has (beyond pid_max's default).
    dead.holder = Holder(
        "dead-runner", dead.holder.host, 2**22 + 7, "1", "0.7.4", "2026-01-01T00:00:00+00:00"
    )
    assert one.push_ref(dead._commit(), LOCK_REF, "")
    with RemoteLock(two, "0.7.5") as taker:
        assert taker.previous is not None and taker.previous.runner == "dead-runner"
        assert "is gone" in taker.taken_over_because


def test_a_lock_whose_process_was_killed_and_never_reaped_is_taken_over(clones):
    """A runner killed in CI leaves a zombie where the container's init does not reap orphans
    (the first CI run of the release road met one): its pid and start time stay in /proc, yet
    it holds nothing. Taken for alive, it would hold the fleet for good."""
    one, two = clones
    runner = subprocess.Popen(["sleep", "300"])
    try:
        dead = RemoteLock(one, "0.7.4")
        dead.holder = Holder(
            "killed-runner",
            dead.holder.host,
            runner.pid,
            processes.started(runner.pid),
            "0.7.4",
            "2026-01-01T00:00:00+00:00",
        )
        assert dead.holder.started and processes.alive(runner.pid)
        assert dead.holder.dead_because(datetime.now(UTC)) is None  # running: it holds
        runner.kill()  # and not waited for: a zombie until the finally below
        deadline = time.monotonic() + 30
        while processes.alive(runner.pid):
            assert time.monotonic() < deadline, "the killed process never became a zombie"
            time.sleep(0.05)
        assert Path(f"/proc/{runner.pid}").exists()  # still there, as a zombie
        assert one.push_ref(dead._commit(), LOCK_REF, "")
        with RemoteLock(two, "0.7.5") as taker:
            assert taker.previous is not None and taker.previous.runner == "killed-runner"
            assert f"its process {runner.pid} on " in taker.taken_over_because
    finally:
        runner.kill()
        runner.wait()


def test_a_holder_on_another_host_is_dead_only_once_its_lease_ran_out():
    holder = Holder("r", "elsewhere.invalid", 1, "1", "0.7.4", "2026-01-01T00:00:00+00:00")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert holder.dead_because(now - timedelta(seconds=30), now) is None
    late = holder.dead_because(now - timedelta(seconds=remote_state.LEASE_SECONDS + 1), now)
    assert late and "lease" in late


def test_a_runner_whose_lock_was_taken_over_stops(clones):
    one, two = clones
    lock = RemoteLock(one, "0.7.4")
    lock.take()
    try:
        other = RemoteLock(two, "0.7.5")
        taken = other._commit()
        assert two.push_ref(taken, LOCK_REF, lock._sha)  # as a takeover does
        lock._renew_once()
        with pytest.raises(LockLost, match="another runner took the lock over"):
            lock.check()
    finally:
        lock.release()
    # The lost lock is not released by the runner that lost it.
    assert two.git("ls-remote", "origin", LOCK_REF)


def test_the_journal_written_by_one_runner_is_read_by_a_fresh_clone(clones):
    one, two = clones
    data = {
        "version": "0.7.4",
        "bases": {"gitops": "abc"},
        "waves_done": ["dev"],
        "before": {"dev": "0.7.3"},
    }
    stack_file = "config:\n  hecate:cluster: dev-cluster\n  hecate:version: 0.7.3\n"
    writer = RemoteJournal(one)
    assert writer.load() is None
    writer.save(data, {"dev": stack_file})
    data["waves_done"].append("edge")
    writer.save(data, {"dev": stack_file})
    loaded = RemoteJournal(two).load()
    assert loaded == (data, {"dev": stack_file})
    writer.remove()
    assert RemoteJournal(two).load() is None


def test_a_journal_changed_under_a_runner_is_not_overwritten(clones):
    one, two = clones
    first, second = RemoteJournal(one), RemoteJournal(two)
    first.save({"version": "0.7.4"}, {})
    second.load()
    second.save({"version": "0.7.4", "waves_done": ["dev"]}, {})
    with pytest.raises(Exception, match="changed on the remote"):
        first.save({"version": "0.7.4", "waves_done": []}, {})
    assert json.loads(json.dumps(RemoteJournal(one).load()[0]))["waves_done"] == ["dev"]


def test_a_remote_that_goes_away_is_named_as_such_never_taken_for_a_refusal(clones, tmp_path):
    from hecate.fleet.gitops_repo import RemoteUnreachable

    one, two = clones
    journal = RemoteJournal(one)
    journal.save({"version": "0.7.4"}, {})
    # A lease that does not hold is a refusal, said as one: the remote answered.
    assert not one.push_ref(one.write_commit(one.write_tree({}), "x"), JOURNAL_REF, "")
    (one.path / "NOTES.md").write_text("a local commit\n")
    one.git("add", "NOTES.md")
    one.git("commit", "-qm", "local")
    (tmp_path / "remote.git").rename(tmp_path / "moved.git")  # the server goes away
    url = str(tmp_path / "remote.git")
    for attempt in (
        one.push,
        lambda: journal.save({"version": "0.7.4", "waves_done": ["dev"]}, {}),
        one.fetch,
    ):
        with pytest.raises(RemoteUnreachable) as gone:
            attempt()
        assert str(gone.value).startswith(f"the gitops remote {url} cannot be reached (git "), gone
    # A lock is given back where it can be; a remote that is gone leaves it to the lease.
    lock = RemoteLock(two, "0.7.4")
    lock._sha = "f" * 40
    lock.release()
    # What was not pushed can be dropped, as the rollout does before it stops.
    one.drop_unpushed()
    assert one.head() == one.remote_branch_head()
    (tmp_path / "moved.git").rename(tmp_path / "remote.git")
    assert RemoteJournal(two).load()[0] == {"version": "0.7.4"}


def test_a_shallow_checkout_fetches_what_it_needs_to_reach_an_older_base(tmp_path):
    """CI's actions/checkout clones one commit deep; a rollout carried on from there reads the
    commits since its base, which lies further back."""
    first = GitopsCheckout(gitops_remote(tmp_path / "remote.git", tmp_path / "one"), "main")
    base = first.head()
    for n in range(120):
        (first.path / "NOTES.md").write_text(f"{n}\n")
        first.git("add", "NOTES.md")
        first.git("commit", "-qm", f"note {n}")
    first.push()
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{tmp_path / 'remote.git'}",
         str(tmp_path / "ci")],
        check=True,
    )  # fmt: skip
    ci = GitopsCheckout(tmp_path / "ci", "main")
    assert not ci.has(base)
    fetched = ci.reach(base)
    assert fetched >= 100 and ci.has(base)
    assert len(ci.commits_since(base, ["NOTES.md"])) == 120
    assert ci.reach(base) == 0  # there now: nothing more to fetch
    with pytest.raises(GitError, match="is not in the history of origin/main"):
        ci.reach("1" * 40)
