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
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO, TypeVar

from ..naming import VERSION_KEY
from ..project import StackFileError
from .checks import check_environment, run_check
from .cluster_health import ClusterClient, ClusterHealth
from .commit_messages import SETTINGS_DIGEST, changed_settings, deploy_message
from .deployments import Deployments
from .dry_run import dry_run
from .gates import FAILED, PASSED, Gate, gate
from .gitops_repo import GitError, GitopsCheckout, RemoteUnreachable
from .journal import AS_COMMITTED, Journal, RolloutLock, rollout_command
from .plan import RolloutPlan, Wave
from .preflight import check_access, check_contexts, check_tokens, pods_version
from .remote_state import Holder, LockLost, RemoteJournal, RemoteLock
from .report import Progress, RolloutReport, StackOutcome
from .rollback import Rollback, RolloutFailed, deploy_commits
from .soak import POLL_SECONDS, Soak, SoakBroken
from .stacks import ChangeSummary, FleetProject, RenderedTemplate, deployed_version
from .versions import DowngradeRefused, is_older

# Stacks of a wave deployed at once: each is an engine and a Python program, about one core's
# worth while it previews and renders.
DEFAULT_PARALLEL = 4
T = TypeVar("T")


@dataclass(frozen=True)
class Preview:
    """A stack's preview in a wave, and the stack file it previewed (None: the file as it is)."""

    summary: ChangeSummary
    text: str | None


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
    # GitHub deployments per cluster (hecate/fleet/deployments.py); none unless the CLI says.
    deployments: Deployments = field(default_factory=lambda: Deployments(None, "", ""))

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
        """The plan and each stack's preview with the new version (hecate/fleet/dry_run.py)."""
        return dry_run(self, out)

    # --- the rollout ----------------------------------------------------------------------

    def run(self) -> RolloutReport:
        """The rollout, under the lock every runner of the gitops remote sees (a local one for a
        project with `direct` stacks only)."""
        checkouts = sorted(
            {self.checkout(s) for s in self.plan.stacks if self.through_flux(s)},
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
            Rollback(self, journal).abort()
            return self.report
        if journal.rolling_back:
            # Interrupted while rolling a failed wave back: finish that, as it would have.
            Rollback(self, journal).resume()
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
                    if self.through_flux(stack):
                        outcome.commits = deploy_commits(self, stack, journal)
                    self.set_outcome(stack, "rolled out", after=self.version_of(stack))
                continue
            if not self._approved(wave, journal):
                return self.report
            try:
                self._wave(wave, journal)
                journal.waves_done.append(wave.name)
                journal.save()
            except RolloutFailed as failure:
                Rollback(self, journal).after_failure(wave, failure)
                return self.report
            except RemoteUnreachable as gone:
                Rollback(self, journal).after_remote_gone(wave, gone)
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
            self.set_outcome(stack, "awaiting approval")
        self.progress.event(
            wave.name,
            "",
            "awaiting approval",
            f"approve and carry on with "
            f"`{rollout_command(self.report.version, '--approve', wave.name)}`",
        )
        return False

    def check_lock(self) -> None:
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
        for stack in wave.stacks:
            cluster, version = self.targets[stack].cluster, self.version_of(stack)
            self.deployments.deploying(cluster, stack, version, wave.name)
        # Every stack previewed before any is changed: a policy failure stops the wave with
        # nothing written, and each preview brings its stack's outputs for the snapshot.
        previews = self._each(wave, lambda stack: self._preview(wave, stack))
        self._snapshot(wave, journal, previews)
        ups = self._each(wave, lambda stack: self._up(wave, stack, previews[stack]))
        pushed, changed = self._publish(wave, journal, ups)
        for stack in wave.stacks:
            if self.through_flux(stack):
                self.reconcile(wave.name, stack, pushed=bool(self.report.stacks[stack].commits))
        templates = {stack: self.template(stack, self.version_of(stack)) for stack in wave.stacks}
        self.wait_gates(wave, pushed, templates)
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
            self.deployments.status(
                outcome.cluster, "success", f"hecate-daemon {outcome.after}: {outcome.result}"
            )

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

    def through_flux(self, stack: str) -> bool:
        return self.targets[stack].settings.delivery == "gitops"

    def reconcile(self, wave: str, stack: str, pushed: bool) -> None:
        """Flux asked to fetch, and, when nothing of this rollout was pushed for the stack, to
        apply again (ClusterClient.request_reconcile)."""
        client = self.clients[stack]
        try:
            client.request_reconcile(syncs=not pushed)
        except Exception as error:
            raise RolloutFailed(
                wave, stack, "reconcile", f"context {client.context}: {error}"
            ) from None
        asked = "sources (the new commit starts the syncs)" if pushed else "sources and syncs"
        self.progress.event(wave, stack, "reconcile", f"requested: {asked}")

    def _snapshot(self, wave: Wave, journal: Journal, previews: dict[str, Preview]) -> None:
        """Each stack as it was before this rollout touched it (its version, stack file and
        setting digests; the outputs from its preview), saved once for the wave, before
        anything changes: what a rollback, or the next runner, goes back to. A resumed rollout
        keeps the first."""
        new = [s for s in wave.stacks if s not in journal.before]
        for stack in new:
            outputs = previews[stack].summary.before
            text = self.project.stack_file(stack).read_text()
            # What the cluster was given last, not what its stack file says now: a rollout of
            # the stack files as committed (a merged release) finds the new version there.
            version = deployed_version(outputs) or self.targets[stack].settings.version
            journal.snapshot(stack, version, text, outputs.get(SETTINGS_DIGEST) or {})
        if new:
            self.check_lock()
            journal.save()
        for stack in wave.stacks:
            self.report.stacks[stack].before = journal.before[stack]

    def _each(self, wave: Wave, step: Callable[[str], T]) -> dict[str, T]:
        """`step` for every stack of the wave, `parallel` at a time. On the first failure no
        further stack starts; those under way finish (an engine is never cut off mid-update),
        and the failure is raised."""
        stop = threading.Event()

        def run(stack: str) -> T | None:
            if stop.is_set():
                return None  # not started: a stack before it failed
            try:
                return step(stack)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            futures = {pool.submit(run, s): s for s in wave.stacks}
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

    def _preview(self, wave: Wave, stack: str) -> Preview:
        """The stack previewed with the policy pack on a copy of its file with the new
        version (the file itself is written by `_up`, once the wave's snapshot is saved)."""
        project = self.project
        self.check_lock()
        version = self.version_of(stack)
        text = None
        if project.committed_version(stack) != version:
            try:
                text = project.with_version(stack, version)
            except StackFileError as error:
                raise RolloutFailed(wave.name, stack, "config", str(error)) from None
        self.progress.event(wave.name, stack, "config", f"hecate:version {version}")
        summary = project.preview(stack) if text is None else project.preview_as(stack, text)
        if not summary.ok:
            raise RolloutFailed(wave.name, stack, "preview", summary.output)
        self.progress.event(wave.name, stack, "preview", summary.described)
        return Preview(summary, text)

    def _up(self, wave: Wave, stack: str, preview: Preview) -> ChangeSummary:
        """The new version written into the stack file, and the stack rendered (or, `direct`,
        applied). The preview stays although `up` runs the pack too: the Automation API's `up`
        skips its own preview, so a stack policy would only be checked once every file was
        written."""
        self.check_lock()
        if preview.text is not None:
            self.project.write_stack_file(stack, preview.text)
        up = self.project.up(stack)
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
            if not self.through_flux(stack):  # `direct`: up applied it and awaited the rollout
                if not up.changes:
                    outcome.result = "unchanged"
                pushed[stack], changed = "", changed or bool(up.changes)
                continue
            message = deploy_message(target.cluster, self.version_of(stack), outcome.changed)
            checkout = self.checkout(stack)
            self.check_lock()
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
            self.check_lock()
            try:
                _, moved = checkout.push()
            except RemoteUnreachable:
                raise
            except GitError as error:
                raise RolloutFailed(wave.name, stacks[0], "push", str(error)) from None
            rebased = f" (rebased over {moved} push{'es' if moved > 1 else ''})" if moved else ""
            for stack in stacks:
                commits = deploy_commits(self, stack, journal)
                outcome = self.report.stacks[stack]
                outcome.commits = commits
                if not commits:
                    outcome.result = "unchanged"
                latest = commits[-1] if commits else journal.bases[checkout.identity()]
                self.progress.event(wave.name, stack, "push", f"{latest[:12]}{rebased}")
                pushed[stack], changed = latest, changed or bool(commits)
        return pushed, changed

    def template(self, stack: str, version: str) -> RenderedTemplate:
        """What the gate waits for: the template as the tree renders it now (its image and the
        checksum of what the pods read); with `direct`, the image of the version."""
        target = self.targets[stack]
        rendered = self.project.rendered_template(target) if self.through_flux(stack) else None
        return rendered or RenderedTemplate(f"{target.settings.image}:{version}", "")

    def wait_gates(
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
        reached = self.checkout(stack).reached_by(commit) if self.through_flux(stack) else None

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

    def set_outcome(self, stack: str, result: str, after: str = "", detail: str = "") -> None:
        outcome = self.report.stacks[stack]
        outcome.result = result
        outcome.after = after or outcome.after
        outcome.detail = detail or outcome.detail
