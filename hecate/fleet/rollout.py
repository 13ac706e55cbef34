"""`fleet rollout VERSION`: the version moves through the fleet wave by wave, each stack gated
on Flux and the daemon's health, and a failed wave is put back as it was.

Per wave: each stack's state before is recorded (once, for the whole wave); then its stacks are
deployed `parallel` at a time (set hecate:version, preview with the policy pack, up); then each
cluster's directories are committed (`deploy(<cluster>): hecate-daemon <version>`) and the
wave's commits pushed at once (rebased over whatever the remote gained, never forced), and Flux
is asked to reconcile. Then every stack's gate, and the soak, during which the gates must keep
holding. A rollout that stops (a failure, Ctrl-C, a killed runner) is
carried on by the same command: finished waves are skipped, and a stack whose version is set,
rendered and pushed already is only gated again.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from ..naming import VERSION_KEY
from ..project import stack_file_with
from .checks import check_environment, run_check
from .cluster_health import (
    FAILED,
    PASSED,
    ClusterClient,
    ClusterHealth,
    Gate,
    gate,
)
from .commit_messages import SETTINGS_DIGEST, changed_settings, deploy_message, rollback_message
from .gitops_repo import GitError, GitopsCheckout, RemoteUnreachable
from .journal import AS_COMMITTED, Journal, JournalError, RolloutLock, rollout_command
from .plan import RolloutPlan, Wave
from .preflight import check_access, check_contexts, check_tokens, pods_version
from .remote_state import Holder, LockLost, RemoteJournal, RemoteLock
from .report import Progress, RolloutReport, StackOutcome
from .soak import POLL_SECONDS, Soak, SoakBroken
from .stacks import ChangeSummary, FleetProject, RenderedTemplate, StackTarget
from .versions import DowngradeRefused, is_older

# Stacks of a wave deployed at once: each is an engine and a Python program, about one core's
# worth while it previews and renders.
DEFAULT_PARALLEL = 4


class RolloutFailed(RuntimeError):
    def __init__(self, wave: str, stack: str, step: str, detail: str):
        self.wave, self.stack, self.step, self.detail = wave, stack, step, detail
        super().__init__(f"{stack or wave}: {step}: {detail}")


@dataclass
class Rollout:
    project: FleetProject
    plan: RolloutPlan
    version: str | None  # None: each stack's committed config as it is
    progress: Progress
    report: RolloutReport
    rollback: bool = True
    kubeconfig: str | None = None
    sleep: Callable[[float], None] = time.sleep
    wait_seconds: float = 0  # how long to wait for another runner's rollout to end
    parallel: int = DEFAULT_PARALLEL  # stacks of a wave deployed at once
    allow_downgrade: bool = False  # may move a cluster's pods to an older version
    approve: tuple[str, ...] = ()  # waves with `approval: required` approved for this run
    abort: bool = False  # end the unfinished rollout: roll back what it deployed

    def __post_init__(self) -> None:
        self.locks: list[RemoteLock] = []
        self.targets = {s: self.project.target(s) for s in self.plan.stacks}
        self.clients = {
            s: ClusterClient(t.context, self.kubeconfig) for s, t in self.targets.items()
        }
        for wave in self.plan.waves:
            for stack in wave.stacks:
                t = self.targets[stack]
                self.report.stacks[stack] = StackOutcome(
                    stack, t.cluster, wave.name, before=t.settings.version
                )

    def version_of(self, stack: str) -> str:
        return self.version or self.targets[stack].settings.version

    # --- checks before anything changes ---------------------------------------------------

    def validate_version(self) -> None:
        """The version as each stack would take it, or ConfigError naming hecate:version."""
        if self.version is None:
            return
        for stack in self.plan.stacks:
            self.project.target(stack, **{VERSION_KEY: self.version})

    def preflight(self) -> None:
        """Before anything changes: every cluster named in the kubeconfig, answering, the gate's
        rights granted, no token expiring before the plan's worst case
        (hecate/fleet/preflight.py)."""
        clients = {s: self.clients[s] for s in self.plan.stacks}
        clusters = {s: self.targets[s].settings.cluster for s in self.plan.stacks}
        check_contexts(clients)
        check_access(clients, clusters)
        check_tokens(clients, clusters, self.plan.worst_case_seconds)

    def _check_direction(self) -> None:
        """DowngradeRefused when a cluster would go back unasked; what each cluster's pods run
        is recorded. Run under the fleet's lock, before anything changes: only the holder
        moves the fleet, so what it reads stays true (a rollout that lost the race for the lock
        is refused for that, never for what the winner then deployed)."""
        moves = []
        for stack in self.plan.stacks:
            outcome = self.report.stacks[stack]
            outcome.pods_before = self._pods_run(stack)
            target = self.version_of(stack)
            if is_older(target, outcome.pods_before):
                moves.append((stack, outcome.cluster, outcome.pods_before, target))
        if moves and not self.allow_downgrade:
            raise DowngradeRefused(moves)
        for stack, _, running, target in moves:
            self.progress.event("rollout", stack, "downgrade", f"{running} → {target} (allowed)")

    def _pods_run(self, stack: str) -> str:
        return pods_version(self.clients[stack], self.targets[stack].settings.image)

    def _record_pods_after(self) -> None:
        for stack in self.plan.stacks:
            self.report.stacks[stack].pods_after = self._pods_run(stack)

    def checkout(self, stack: str) -> GitopsCheckout:
        return self.project.checkout(self.targets[stack])

    def dry_run(self, out: TextIO) -> RolloutReport:
        """The plan and each stack's preview with the new version, through a temporary copy
        of the stack file (`--config-file`): nothing in the project, the state or a cluster
        changes."""
        project = self.project
        for line in plan_lines(self):
            print(line, file=out)
        report = self.report
        report.dry_run, report.result = True, "dry run"
        with tempfile.TemporaryDirectory(prefix="hecate-dry-run-") as scratch:
            for stack in self.plan.stacks:
                copy = Path(scratch) / f"Pulumi.{stack}.yaml"
                version = {VERSION_KEY: self.version_of(stack)}
                copy.write_text(stack_file_with(project.stack_file(stack), version))
                summary = project.preview(stack, config_file=copy)
                outcome = report.stacks[stack]
                outcome.after = self.version_of(stack)
                outcome.result = "would change" if summary.changed else "no change"
                if not summary.ok:
                    outcome.result = "preview failed"
                outcome.detail = summary.described if summary.ok else "—"
                print(f"\n--- {stack}: {outcome.result} ({outcome.detail})", file=out)
                print(summary.output.strip(), file=out)
        return report

    # --- the rollout ----------------------------------------------------------------------

    def run(self) -> RolloutReport:
        """The rollout, under the lock every runner of the gitops remote sees (a local one for a
        project with `direct` stacks only)."""
        checkouts = sorted(
            {self.checkout(s) for s in self.plan.stacks if self._through_flux(s)},
            key=lambda c: str(c.path),
        )
        for checkout in checkouts:
            checkout.check()
        with contextlib.ExitStack() as held:
            if checkouts:
                self.locks = [
                    held.enter_context(
                        RemoteLock(c, self.report.version, self.wait_seconds, self._waiting)
                    )
                    for c in checkouts
                ]
                remote = RemoteJournal(checkouts[0])
                previous = next((lock.previous for lock in self.locks if lock.previous), None)
                for lock in self.locks:
                    if lock.previous:
                        self.progress.event(
                            "rollout",
                            "",
                            "take over",
                            f"{lock.previous.describe()}: {lock.taken_over_because}",
                        )
            else:
                local = held.enter_context(RolloutLock(self.project.root))
                remote, previous = None, None
            try:
                if not self.abort:  # an abort only ever goes back to what ran before
                    self._check_direction()
                self._run(
                    checkouts,
                    remote,
                    previous,
                    local_interrupted=not checkouts and local.interrupted,
                )
            except LockLost as lost:
                self.report.result = "stopped"
                self.report.failure = str(lost)
                self.progress.event("rollout", "", "stop", str(lost))
        self._record_pods_after()
        return self.report

    def _waiting(self, holder: Holder, seen: datetime, waited: float) -> None:
        """--wait's progress, from its first second: who holds the fleet, for how long yet."""
        self.progress.event(
            "rollout",
            "",
            "wait",
            f"{holder.describe(seen)} holds the fleet; waited {waited:.0f} s of "
            f"{self.wait_seconds:.0f} s (--wait)",
        )

    def _run(
        self,
        checkouts: list[GitopsCheckout],
        remote: RemoteJournal | None,
        previous: Holder | None,
        local_interrupted: bool,
    ) -> RolloutReport:
        version = None if self.abort else self.report.version
        journal, resumed = Journal.open(self.project.root, version, remote)
        if self.abort:
            self.report.version = journal.version
            self.version = None if journal.version == AS_COMMITTED else journal.version
        if resumed or previous or local_interrupted:
            self.progress.event("rollout", "", "resume", self._resume_note(journal))
            self._after_interruption(previous)
        for checkout in checkouts:
            checkout.update()
            base = journal.bases.setdefault(checkout.identity(), checkout.remote_head())
            # A shallow checkout (CI's) carrying on: the commits since the base are read.
            if fetched := checkout.reach(base):
                self.progress.event(
                    "rollout",
                    "",
                    "deepen",
                    f"a shallow checkout: fetched up to {fetched} more commits of "
                    f"{checkout.branch} to reach the rollout's base {base[:12]}",
                )
        journal.save()
        if self.abort:
            self._abort(journal)
            return self.report
        if journal.rolling_back:
            # Interrupted while rolling a failed wave back: finish that, as it would have.
            self._resume_rollback(journal)
            return self.report
        for wave in self.plan.waves:
            if wave.name in journal.waves_done:
                self.progress.event(wave.name, "", "skip", "finished in an earlier run")
                for stack in wave.stacks:
                    # A fresh clone's stack file says the version from before: say the new one.
                    version = self.version_of(stack)
                    if self.project.committed_version(stack) != version:
                        self.project.set_version(stack, version)
                    outcome = self.report.stacks[stack]
                    outcome.before = journal.before.get(stack, outcome.before)
                    if self._through_flux(stack):
                        outcome.commits = self._commits(stack, journal)
                    self._outcome(stack, "rolled out", after=self.version_of(stack))
                continue
            if not self._approved(wave, journal):
                return self.report
            try:
                self._wave(wave, journal)
                journal.waves_done.append(wave.name)
                journal.save()
            except RolloutFailed as failure:
                self._failed(wave, failure, journal)
                return self.report
            except RemoteUnreachable as gone:
                self._remote_gone(wave, journal, gone)
                return self.report
        journal.finish()
        self.report.result = "rolled out"
        return self.report

    def _approved(self, wave: Wave, journal: Journal) -> bool:
        """Whether the wave may go: it needs no approval, or has it (now, or recorded in the
        journal by an earlier run). Otherwise the rollout stops before it, nothing of the wave
        changed, the journal saying which wave waits (a result of its own, not a failure)."""
        if not wave.approval_required or wave.name in journal.approved:
            return True
        if wave.name in self.approve:
            journal.approved.append(wave.name)
            journal.awaiting = ""
            journal.save()
            self.progress.event(wave.name, "", "approved", "--approve " + wave.name)
            return True
        journal.awaiting = wave.name
        journal.save()
        self.report.result = "awaiting approval"
        self.report.awaiting = wave.name
        for stack in wave.stacks:
            self._outcome(stack, "awaiting approval")
        self.progress.event(
            wave.name,
            "",
            "awaiting approval",
            f"approve and carry on with "
            f"`{rollout_command(self.report.version, '--approve', wave.name)}`",
        )
        return False

    def _check_lock(self) -> None:
        for lock in self.locks:
            lock.check()

    def _resume_note(self, journal: Journal) -> str:
        done = ", ".join(journal.waves_done) or "no wave"
        return f"carrying on the rollout of {journal.version}: {done} finished before"

    def _after_interruption(self, previous: Holder | None) -> None:
        """What a killed pulumi left in the backend, cleared where it is provably the dead
        run's (hecate/fleet/stacks.py); said, lock by lock."""
        since = previous.since if previous else None
        for cleared in self.project.clear_dead_locks(previous.host if previous else None, since):
            self.progress.event("rollout", "", "unlock", cleared)

    def _wave(self, wave: Wave, journal: Journal) -> None:
        self.progress.event(wave.name, "", "wave", f"{', '.join(wave.stacks)}")
        self._snapshot(wave, journal)
        ups = self._deploy_all(wave)
        pushed, changed = self._publish(wave, journal, ups)
        for stack in wave.stacks:
            if self._through_flux(stack):
                self._reconcile(wave.name, stack)
        templates = {stack: self._template(stack, self.version_of(stack)) for stack in wave.stacks}
        self._wait_gates(wave, pushed, templates)
        self._verify(wave, "gate")
        # The soak guards the next wave: after the last one there is nothing left to hold back.
        if changed and wave.soak_seconds and wave != self.plan.waves[-1]:
            self._soak(wave, pushed, templates)
            self._verify(wave, "soak")
        for stack in wave.stacks:
            outcome = self.report.stacks[stack]
            if outcome.result != "unchanged":
                outcome.result = "rolled out"
            outcome.after = self.version_of(stack)

    def _verify(self, wave: Wave, after: str) -> None:
        """The wave's own checks (`verify:`), on each of its clusters in turn; the first that
        fails fails the wave, its last lines the cause."""
        for stack in wave.stacks if wave.verify else ():
            t = self.targets[stack]
            env = check_environment(
                stack,
                t.cluster,
                t.context,
                self.version_of(stack),
                wave.name,
                after,
                self.kubeconfig or "",
            )
            for check in wave.verify:
                self.progress.event(wave.name, stack, "verify", f"{check.name} (after the {after})")
                result = run_check(check, self.project.root, env)
                if not result.passed:
                    raise RolloutFailed(wave.name, stack, "verify", result.describe())
                self.progress.event(
                    wave.name, stack, "verify passed", f"{check.name} in {result.seconds:.1f} s"
                )

    def _through_flux(self, stack: str) -> bool:
        return self.targets[stack].settings.delivery == "gitops"

    def _reconcile(self, wave: str, stack: str) -> None:
        client = self.clients[stack]
        try:
            client.request_reconcile()
        except Exception as error:
            raise RolloutFailed(
                wave, stack, "reconcile", f"context {client.context}: {error}"
            ) from None
        self.progress.event(wave, stack, "reconcile", "requested")

    def _snapshot(self, wave: Wave, journal: Journal) -> None:
        """Each stack as it was before this rollout touched it (its version, stack file and
        setting digests), read in parallel and saved once, before anything changes: what a
        rollback, or the next runner, goes back to. A resumed rollout keeps the first."""
        new = [s for s in wave.stacks if s not in journal.before]
        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            deployed = list(pool.map(lambda s: self.project.outputs(s).get(SETTINGS_DIGEST), new))
        for stack, digests in zip(new, deployed, strict=True):
            text = self.project.stack_file(stack).read_text()
            journal.snapshot(stack, self.targets[stack].settings.version, text, digests or {})
        if new:
            self._check_lock()
            journal.save()
        for stack in wave.stacks:
            self.report.stacks[stack].before = journal.before[stack]

    def _deploy_all(self, wave: Wave) -> dict[str, ChangeSummary]:
        """Every stack of the wave set, previewed and rendered (or applied), `parallel` at a
        time. On the first failure no further stack starts; those under way finish (an engine
        is never cut off mid-update), and the failure is raised."""
        stop = threading.Event()

        def deploy(stack: str) -> ChangeSummary | None:
            if stop.is_set():
                return None  # not started: a stack before it failed
            try:
                return self._deploy(wave, stack)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            futures = {pool.submit(deploy, s): s for s in wave.stacks}
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.cancel()
            wait(futures)  # those under way finish: an engine is never cut off mid-update
        failures = [
            error for f in futures if not f.cancelled() and (error := f.exception()) is not None
        ]
        if failures:
            raise failures[0]  # the first stack in the wave's order that failed
        return {stack: future.result() for future, stack in futures.items()}  # type: ignore[misc]

    def _deploy(self, wave: Wave, stack: str) -> ChangeSummary:
        """Version set, previewed with the policy pack, rendered (or, `direct`, applied). The
        preview stays although `up` runs the pack too: the Automation API's `up` skips its own
        preview, so a stack policy would only be checked once every file was written."""
        project = self.project
        self._check_lock()
        version = self.version_of(stack)
        if project.committed_version(stack) != version:
            project.set_version(stack, version)
        self.progress.event(wave.name, stack, "config", f"hecate:version {version}")
        preview = project.preview(stack)
        if not preview.ok:
            raise RolloutFailed(wave.name, stack, "preview", preview.output)
        self.progress.event(wave.name, stack, "preview", preview.described)
        up = project.up(stack)
        if not up.ok:
            raise RolloutFailed(wave.name, stack, "up", up.output)
        self.progress.event(wave.name, stack, "up", up.described)
        return up

    def _publish(
        self, wave: Wave, journal: Journal, ups: dict[str, ChangeSummary]
    ) -> tuple[dict[str, str], bool]:
        """One commit per cluster, in the wave's order, then one push per gitops remote (rebased
        over what it gained, never forced). Returns the commit each gate waits for, and
        whether anything changed."""
        pushed: dict[str, str] = {}
        changed = False
        to_push: dict[GitopsCheckout, list[str]] = {}
        for stack in wave.stacks:
            target, up = self.targets[stack], ups[stack]
            outcome = self.report.stacks[stack]
            outcome.changed = changed_settings(
                journal.digests.get(stack, {}), up.outputs.get(SETTINGS_DIGEST) or {}
            )
            if not self._through_flux(stack):  # `direct`: up applied it and awaited the rollout
                if not up.changes:
                    outcome.result = "unchanged"
                pushed[stack], changed = "", changed or bool(up.changes)
                continue
            message = deploy_message(target.cluster, self.version_of(stack), outcome.changed)
            checkout = self.checkout(stack)
            self._check_lock()
            try:
                commit = checkout.commit(target.directories, message)
            except RemoteUnreachable:
                raise
            except GitError as error:
                raise RolloutFailed(wave.name, stack, "commit", str(error)) from None
            self.progress.event(
                wave.name,
                stack,
                "commit",
                f"{commit[:12]} {message.splitlines()[0]}" if commit else "no change",
            )
            to_push.setdefault(checkout, []).append(stack)
        for checkout, stacks in to_push.items():
            self._check_lock()
            try:
                _, moved = checkout.push()
            except RemoteUnreachable:
                raise
            except GitError as error:
                raise RolloutFailed(wave.name, stacks[0], "push", str(error)) from None
            rebased = f" (rebased over {moved} push{'es' if moved > 1 else ''})" if moved else ""
            for stack in stacks:
                commits = self._commits(stack, journal)
                outcome = self.report.stacks[stack]
                outcome.commits = commits
                if not commits:
                    outcome.result = "unchanged"
                latest = commits[-1] if commits else journal.bases[checkout.identity()]
                self.progress.event(wave.name, stack, "push", f"{latest[:12]}{rebased}")
                pushed[stack], changed = latest, changed or bool(commits)
        return pushed, changed

    def _rollout_commits(self, stack: str, journal: Journal) -> list[tuple[str, str]]:
        """(sha, subject) of every commit since the rollout's base touching the cluster's
        directories, oldest first: found again after a rebase or a restart."""
        checkout = self.checkout(stack)
        base = journal.bases[checkout.identity()]
        return checkout.commits_since(base, self.targets[stack].directories)

    def _commits(self, stack: str, journal: Journal) -> list[str]:
        """This rollout's deploy commits for the stack's cluster (oldest first)."""
        prefix = f"deploy({self.targets[stack].cluster}): "
        commits = self._rollout_commits(stack, journal)
        return [sha for sha, subject in commits if subject.startswith(prefix)]

    def _reverted_already(self, stack: str, journal: Journal) -> bool:
        """Whether the newest commit of this rollout for the cluster is its rollback."""
        commits = self._rollout_commits(stack, journal)
        prefix = f"rollback({self.targets[stack].cluster}): "
        return bool(commits) and commits[-1][1].startswith(prefix)

    def _untouched(self, stack: str, journal: Journal) -> bool:
        """A gitops stack of the failed wave that this rollout never changed (its deploy had
        not started): its stack file as recorded, no commit of this rollout, nothing rendered
        and uncommitted. There is nothing to put back; any other is rolled back."""
        if not self._through_flux(stack):
            return False
        if self.project.stack_file(stack).read_text() != journal.stack_file(stack):
            return False
        directories = self.targets[stack].directories
        return not self._rollout_commits(stack, journal) and self.checkout(stack).clean(directories)

    def _template(self, stack: str, version: str) -> RenderedTemplate:
        """What the gate waits for: the template as the tree renders it now (its image and the
        checksum of what the pods read); with `direct`, the image of the version."""
        target = self.targets[stack]
        rendered = self.project.rendered_template(target) if self._through_flux(stack) else None
        return rendered or RenderedTemplate(f"{target.settings.image}:{version}", "")

    def _wait_gates(
        self, wave: Wave, pushed: dict[str, str], templates: dict[str, RenderedTemplate]
    ) -> None:
        deadline = time.monotonic() + self.plan.gate_timeout_seconds
        waiting = set(wave.stacks)
        last: dict[str, str] = {}
        while waiting:
            for stack in sorted(waiting):
                result = self._gate(stack, pushed.get(stack, ""), templates[stack])
                note = f"{result.step}: {result.detail}"
                if last.get(stack) != note:
                    last[stack] = note
                    self.progress.event(wave.name, stack, f"gate {result.state}", note)
                if result.state == FAILED:
                    raise RolloutFailed(wave.name, stack, "gate", note)
                if result.state == PASSED:
                    waiting.discard(stack)
            if waiting and time.monotonic() > deadline:
                stack = sorted(waiting)[0]
                raise RolloutFailed(
                    wave.name,
                    stack,
                    "gate",
                    f"timed out after {self.plan.gate_timeout_seconds:.0f} s waiting for "
                    f"{last.get(stack, 'the cluster')}",
                )
            if waiting:
                self.sleep(POLL_SECONDS)

    def _judge(
        self, stack: str, commit: str, template: RenderedTemplate
    ) -> Callable[[ClusterHealth], Gate]:
        """The stack's gate, for any reading of its cluster."""
        target = self.targets[stack]
        reached = self.checkout(stack).reached_by(commit) if self._through_flux(stack) else None

        def judge(health: ClusterHealth) -> Gate:
            return gate(
                health,
                reached,
                template.image,
                target.settings.max_unavailable,
                target.seals,
                template.checksum or None,
            )

        return judge

    def _gate(self, stack: str, commit: str, template: RenderedTemplate) -> Gate:
        return self._judge(stack, commit, template)(self.clients[stack].read())

    def _soak(
        self, wave: Wave, pushed: dict[str, str], templates: dict[str, RenderedTemplate]
    ) -> None:
        """The gates must keep holding for the soak. Trouble fails the wave at once; an Unknown
        reading (Flux reconciling the same revision, an API server that does not answer) only
        once it has lasted longer than the plan's grace (timeouts.unknown)."""
        judges = {s: self._judge(s, pushed.get(s, ""), templates[s]) for s in wave.stacks}
        soak = Soak(wave.name, wave.soak_seconds, self.plan.unknown_grace_seconds, self.progress)
        try:
            soak.hold({s: self.clients[s].read for s in wave.stacks}, judges, self.sleep)
        except SoakBroken as broken:
            raise RolloutFailed(wave.name, broken.stack, "soak", broken.detail) from None

    # --- failure --------------------------------------------------------------------------

    def _outcome(self, stack: str, result: str, after: str = "", detail: str = "") -> None:
        outcome = self.report.stacks[stack]
        outcome.result = result
        outcome.after = after or outcome.after
        outcome.detail = detail or outcome.detail

    def _failed(self, wave: Wave, failure: RolloutFailed, journal: Journal) -> None:
        self.report.result = "failed"
        self.report.failed_wave = wave.name
        self.report.failure = f"stack {failure.stack}, {failure.step}: {failure.detail}"
        self.progress.event(wave.name, "", "stop", "later waves are not touched")
        for stack in wave.stacks:
            self._outcome(stack, "failed" if stack == failure.stack else "stopped")
        if not self.rollback:
            self.progress.event(wave.name, "", "no rollback", "left as it is (--no-rollback)")
            return
        # Recorded before anything is undone: a runner that dies now, the next one finishes.
        journal.rolling_back, journal.failure = wave.name, self.report.failure
        journal.save()
        self._rollback_and_finish(wave, journal)

    def _remote_gone(
        self, wave: Wave, journal: Journal, gone: RemoteUnreachable, rolling_back: bool = False
    ) -> None:
        """The gitops remote stopped answering in the middle of a wave: nothing can be pushed,
        so nothing is rolled back either. This checkout and the wave's stack files are put
        back as they were before the wave (its unpushed commits dropped, what was rendered
        discarded, each stack's state refreshed to match), so that the same command, run
        again once the remote answers, carries on from the journal the remote holds."""
        self.report.result = "stopped"
        self.report.failed_wave = wave.name
        self.progress.event(wave.name, "", "stop", str(gone))
        put_back: list[str] = []
        try:
            for stack in wave.stacks:
                if not self._through_flux(stack) or stack not in journal.before:
                    continue
                if self._untouched(stack, journal):
                    continue
                self.project.stack_file(stack).write_text(journal.stack_file(stack))
                self.checkout(stack).discard(self.targets[stack].directories)
                put_back.append(stack)
            for checkout in {self.checkout(s) for s in put_back}:
                checkout.drop_unpushed()
            for stack in put_back:
                refreshed = self.project.refresh(stack)
                if not refreshed.ok:
                    raise RuntimeError(f"pulumi refresh of {stack}: {refreshed.output}")
                self._outcome(stack, "stopped", after=journal.before[stack])
        except Exception as error:  # the report must say what could not be put back
            self.report.failure = (
                f"{gone}; putting {', '.join(put_back) or 'the wave'} back failed too: {error}"
            )
            return
        undone = f"{', '.join(put_back)} put back as before the wave" if put_back else "nothing"
        doing = "the rollback of wave " + wave.name if rolling_back else "the rollout"
        self.report.failure = (
            f"{gone}: {doing} stopped ({undone}); run the same command again once the remote "
            "answers, and it carries on from there"
        )

    def _abort(self, journal: Journal) -> None:
        """Every wave the unfinished rollout touched rolled back, the last first; then the
        journal is gone and the fleet free. A rollback that fails keeps the journal: the same
        `--abort` carries it on."""
        touched = [w for w in self.plan.waves if any(s in journal.before for s in w.stacks)]
        missing = sorted(set(journal.before) - set(self.plan.stacks))
        if missing:
            raise JournalError(
                f"the unfinished rollout of {journal.version} touched {', '.join(missing)}, "
                "which this plan does not hold: abort with the plan (--plan) it ran with"
            )
        names = ", ".join(w.name for w in reversed(touched)) or "no wave"
        self.progress.event("rollout", "", "abort", f"rolling back {names}")
        for wave in reversed(touched):
            try:
                self._roll_back(wave, journal)
            except (RolloutFailed, RemoteUnreachable) as failed:
                self.report.result, self.report.failed_wave = "failed", wave.name
                self.report.failure = (
                    f"the abort's rollback of wave {wave.name} failed: {failed}; run "
                    "`hecate fleet rollout --abort` again to carry it on"
                )
                return
        journal.finish()
        self.report.result = "aborted"

    def _resume_rollback(self, journal: Journal) -> None:
        wave = next(w for w in self.plan.waves if w.name == journal.rolling_back)
        self.report.result, self.report.failed_wave = "failed", wave.name
        self.report.failure = journal.failure
        self.progress.event(wave.name, "", "rollback", f"carried on: {journal.failure}")
        for stack in wave.stacks:
            self._outcome(stack, "stopped")
        self._rollback_and_finish(wave, journal)

    def _rollback_and_finish(self, wave: Wave, journal: Journal) -> None:
        try:
            self._roll_back(wave, journal)
        except LockLost:
            raise
        except RemoteUnreachable as gone:
            self._remote_gone(wave, journal, gone, rolling_back=True)
            return
        except Exception as error:  # whatever stopped it, the report must say so
            self.report.failure += f"; the rollback failed too: {error}"
            self.progress.event(wave.name, "", "rollback failed", str(error))
            return
        journal.finish()
        self.report.result = "rolled back"

    def _roll_back(self, wave: Wave, journal: Journal) -> None:
        """Revert the wave's commits (one commit per cluster), put each stack file back, and
        `pulumi refresh` the stack so that its state reads what the reverted files hold (no
        state snapshot is ever imported over a stack that may have moved on); push, and wait
        for the gate on the old template."""
        touched = [
            s for s in wave.stacks if s in journal.before and not self._untouched(s, journal)
        ]
        pushed: dict[str, str] = {}
        through_flux = [s for s in touched if self._through_flux(s)]
        for stack in touched:
            target = self.targets[stack]
            before = journal.before[stack]
            self.project.stack_file(stack).write_text(journal.stack_file(stack))
            if stack not in through_flux:  # the cluster itself changed: the old config over it
                undone = self.project.up(stack)
                if not undone.ok:
                    raise RolloutFailed(wave.name, stack, "rollback", undone.output)
                self.progress.event(wave.name, stack, "rollback", f"{before}: applied")
                self._outcome(stack, "rolled back", after=before)
                continue
            checkout = self.checkout(stack)
            commits = self._commits(stack, journal)
            # What a failed `up` rendered and nobody committed goes first.
            checkout.discard(target.directories)
            self._check_lock()
            outcome = self.report.stacks[stack]
            revert = None
            if not self._reverted_already(stack, journal):  # an earlier runner's, pushed
                revert = checkout.revert(
                    commits,
                    rollback_message(
                        target.cluster, before, self.version_of(stack), outcome.changed
                    ),
                )
            refreshed = self.project.refresh(stack)
            if not refreshed.ok:
                raise RolloutFailed(wave.name, stack, "rollback", refreshed.output)
            detail = f"{revert[:12]} reverts {len(commits)} commit(s)" if revert else "no commit"
            self.progress.event(wave.name, stack, "rollback", f"{before}: {detail}")
            self._outcome(stack, "rolled back", after=before)
            self.report.stacks[stack].commits += [revert] if revert else []
        self._check_lock()
        for checkout in {self.checkout(s) for s in through_flux}:
            checkout.push()
        for stack in through_flux:
            pushed[stack] = self.checkout(stack).head()
            self._reconcile(wave.name, stack)
        templates = {stack: self._template(stack, journal.before[stack]) for stack in touched}
        self._wait_gates(Wave(wave.name, tuple(touched), 0), pushed, templates)


def plan_lines(rollout: Rollout) -> list[str]:
    """The plan as `--dry-run` prints it."""
    lines = []
    for index, wave in enumerate(rollout.plan.waves, 1):
        soak = f", soak {wave.soak_seconds:.0f} s" if wave.soak_seconds else ""
        lines.append(f"wave {index} ({wave.name}{soak}):")
        if wave.approval_required:
            lines.append("  stops for approval first (--approve " + wave.name + ")")
        for stack in wave.stacks:
            t: StackTarget = rollout.targets[stack]
            lines.append(
                f"  {stack}: {t.cluster} (context {t.context}) "
                f"{t.settings.version} → {rollout.version_of(stack)}"
            )
        for check in wave.verify:
            lines.append(
                f"  verify {check.name}: {' '.join(check.command)} "
                f"(timeout {check.timeout_seconds:.0f} s)"
            )
    lines.append(f"gate timeout: {rollout.plan.gate_timeout_seconds:.0f} s per wave")
    return lines
