"""What a rollout does when a wave does not finish: a failed wave rolled back, a rollout stopped
because the gitops remote went away, one aborted (`--abort`), one that was rolling back when its
runner died carried on. A rollback reverts the wave's own commits (one commit per cluster), puts
each stack file back and refreshes the stack's state from the reverted files, then waits for the
gates on the old template: it never moves a cluster anywhere but where it was before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .commit_messages import rollback_message
from .gitops_repo import RemoteUnreachable
from .journal import Journal, JournalError
from .plan import Wave
from .remote_state import LockLost

if TYPE_CHECKING:
    from .rollout import Rollout


class RolloutFailed(RuntimeError):
    """A wave's step failed: the wave is rolled back and later waves are not touched."""

    def __init__(self, wave: str, stack: str, step: str, detail: str):
        self.wave, self.stack, self.step, self.detail = wave, stack, step, detail
        super().__init__(f"{stack or wave}: {step}: {detail}")


def rollout_commits(rollout: Rollout, stack: str, journal: Journal) -> list[tuple[str, str]]:
    """(sha, subject) of every commit since the rollout's base touching the cluster's
    directories, oldest first: found again after a rebase or a restart."""
    checkout = rollout.checkout(stack)
    base = journal.bases[checkout.identity()]
    return checkout.commits_since(base, rollout.targets[stack].directories)


def deploy_commits(rollout: Rollout, stack: str, journal: Journal) -> list[str]:
    """This rollout's deploy commits for the stack's cluster (oldest first)."""
    prefix = f"deploy({rollout.targets[stack].cluster}): "
    return [
        sha
        for sha, subject in rollout_commits(rollout, stack, journal)
        if subject.startswith(prefix)
    ]


class Rollback:
    """The rollout's way back, against the journal of what it did."""

    def __init__(self, rollout: Rollout, journal: Journal) -> None:
        self.rollout, self.journal = rollout, journal
        self.report, self.progress = rollout.report, rollout.progress

    def after_failure(self, wave: Wave, failure: RolloutFailed) -> None:
        rollout, journal = self.rollout, self.journal
        self.report.result = "failed"
        self.report.failed_wave = wave.name
        self.report.failure = f"stack {failure.stack}, {failure.step}: {failure.detail}"
        self.progress.event(wave.name, "", "stop", "later waves are not touched")
        for stack in wave.stacks:
            rollout.set_outcome(stack, "failed" if stack == failure.stack else "stopped")
            rollout.deployments.status(
                rollout.targets[stack].cluster,
                "failure",
                f"{failure.step}: {failure.detail}"
                if stack == failure.stack
                else f"stopped: wave {wave.name} failed on {failure.stack}",
            )
        if not rollout.rollback:
            self.progress.event(wave.name, "", "no rollback", "left as it is (--no-rollback)")
            return
        # Recorded before anything is undone: a runner that dies now, the next one finishes.
        journal.rolling_back, journal.failure = wave.name, self.report.failure
        journal.save()
        self.roll_back_and_finish(wave)

    def after_remote_gone(
        self, wave: Wave, gone: RemoteUnreachable, rolling_back: bool = False
    ) -> None:
        """The gitops remote stopped answering in the middle of a wave: nothing can be pushed,
        so nothing is rolled back either. This checkout and the wave's stack files are put
        back as they were before the wave (its unpushed commits dropped, what was rendered
        discarded, each stack's state refreshed to match), so that the same command, run
        again once the remote answers, carries on from the journal the remote holds."""
        rollout, journal = self.rollout, self.journal
        self.report.result = "stopped"
        self.report.failed_wave = wave.name
        self.progress.event(wave.name, "", "stop", str(gone))
        put_back: list[str] = []
        try:
            for stack in wave.stacks:
                if not rollout.through_flux(stack) or stack not in journal.before:
                    continue
                if self.untouched(stack):
                    continue
                rollout.project.stack_file(stack).write_text(journal.stack_file(stack))
                rollout.checkout(stack).discard(rollout.targets[stack].directories)
                put_back.append(stack)
            for checkout in {rollout.checkout(s) for s in put_back}:
                checkout.drop_unpushed()
            for stack in put_back:
                refreshed = rollout.project.refresh(stack)
                if not refreshed.ok:
                    raise RuntimeError(f"pulumi refresh of {stack}: {refreshed.output}")
                rollout.set_outcome(stack, "stopped", after=journal.before[stack])
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

    def abort(self) -> None:
        """Every wave the unfinished rollout touched rolled back, the last first; then the
        journal is gone and the fleet free. A rollback that fails keeps the journal: the same
        `--abort` carries it on."""
        plan, journal = self.rollout.plan, self.journal
        touched = [w for w in plan.waves if any(s in journal.before for s in w.stacks)]
        missing = sorted(set(journal.before) - set(plan.stacks))
        if missing:
            raise JournalError(
                f"the unfinished rollout of {journal.version} touched {', '.join(missing)}, "
                "which this plan does not hold: abort with the plan (--plan) it ran with"
            )
        names = ", ".join(w.name for w in reversed(touched)) or "no wave"
        self.progress.event("rollout", "", "abort", f"rolling back {names}")
        for wave in reversed(touched):
            try:
                self.roll_back(wave)
            except (RolloutFailed, RemoteUnreachable) as failed:
                self.report.result, self.report.failed_wave = "failed", wave.name
                self.report.failure = (
                    f"the abort's rollback of wave {wave.name} failed: {failed}; run "
                    "`hecate fleet rollout --abort` again to carry it on"
                )
                return
        journal.finish()
        self.report.result = "aborted"

    def resume(self) -> None:
        """A runner died while rolling a failed wave back: finish that, as it would have."""
        journal = self.journal
        wave = next(w for w in self.rollout.plan.waves if w.name == journal.rolling_back)
        self.report.result, self.report.failed_wave = "failed", wave.name
        self.report.failure = journal.failure
        self.progress.event(wave.name, "", "rollback", f"carried on: {journal.failure}")
        for stack in wave.stacks:
            self.rollout.set_outcome(stack, "stopped")
        self.roll_back_and_finish(wave)

    def roll_back_and_finish(self, wave: Wave) -> None:
        try:
            self.roll_back(wave)
        except LockLost:
            raise
        except RemoteUnreachable as gone:
            self.after_remote_gone(wave, gone, rolling_back=True)
            return
        except Exception as error:  # whatever stopped it, the report must say so
            self.report.failure += f"; the rollback failed too: {error}"
            self.progress.event(wave.name, "", "rollback failed", str(error))
            return
        self.journal.finish()
        self.report.result = "rolled back"

    def roll_back(self, wave: Wave) -> None:
        """The wave's touched stacks put back (`_put_back`), each a deployment of its own on
        GitHub: in progress, then a success or the failure that stopped it."""
        rollout, journal = self.rollout, self.journal
        touched = [s for s in wave.stacks if s in journal.before and not self.untouched(s)]
        clusters = {s: rollout.targets[s].cluster for s in touched}
        for stack in touched:
            rollout.deployments.rolling_back(
                clusters[stack], stack, journal.before[stack], wave.name
            )
        try:
            self._put_back(wave, touched)
        except BaseException as error:
            for stack in touched:
                rollout.deployments.status(clusters[stack], "failure", f"rollback: {error}")
            raise
        for stack in touched:
            rollout.deployments.status(
                clusters[stack], "success", f"rolled back to hecate-daemon {journal.before[stack]}"
            )

    def _put_back(self, wave: Wave, touched: list[str]) -> None:
        """Revert the wave's commits (one commit per cluster), put each stack file back, and
        `pulumi refresh` the stack so that its state reads what the reverted files hold (no
        state snapshot is ever imported over a stack that may have moved on); push, and wait
        for the gate on the old template."""
        rollout, journal, project = self.rollout, self.journal, self.rollout.project
        pushed: dict[str, str] = {}
        through_flux = [s for s in touched if rollout.through_flux(s)]
        reverted: set[str] = set()  # a commit of this rollout on the remote, or its revert now
        for stack in touched:
            target = rollout.targets[stack]
            before = journal.before[stack]
            project.stack_file(stack).write_text(journal.stack_file(stack))
            if stack not in through_flux:  # the cluster itself changed: the old config over it
                undone = project.up(stack)
                if not undone.ok:
                    raise RolloutFailed(wave.name, stack, "rollback", undone.output)
                self.progress.event(wave.name, stack, "rollback", f"{before}: applied")
                rollout.set_outcome(stack, "rolled back", after=before)
                continue
            checkout = rollout.checkout(stack)
            commits = deploy_commits(rollout, stack, journal)
            if commits:
                reverted.add(stack)
            # What a failed `up` rendered and nobody committed goes first.
            checkout.discard(target.directories)
            rollout.check_lock()
            outcome = self.report.stacks[stack]
            revert = None
            if not self.reverted_already(stack):  # an earlier runner's, pushed
                revert = checkout.revert(
                    commits,
                    rollback_message(
                        target.cluster, before, rollout.version_of(stack), outcome.changed
                    ),
                )
            refreshed = project.refresh(stack)
            if not refreshed.ok:
                raise RolloutFailed(wave.name, stack, "rollback", refreshed.output)
            detail = f"{revert[:12]} reverts {len(commits)} commit(s)" if revert else "no commit"
            self.progress.event(wave.name, stack, "rollback", f"{before}: {detail}")
            rollout.set_outcome(stack, "rolled back", after=before)
            outcome.commits += [revert] if revert else []
        rollout.check_lock()
        for checkout in {rollout.checkout(s) for s in through_flux}:
            checkout.push()
        for stack in through_flux:
            pushed[stack] = rollout.checkout(stack).head()
            rollout.reconcile(wave.name, stack, pushed=stack in reverted)
        templates = {stack: rollout.template(stack, journal.before[stack]) for stack in touched}
        rollout.wait_gates(Wave(wave.name, tuple(touched), 0), pushed, templates)

    def reverted_already(self, stack: str) -> bool:
        """Whether the newest commit of this rollout for the cluster is its rollback."""
        commits = rollout_commits(self.rollout, stack, self.journal)
        prefix = f"rollback({self.rollout.targets[stack].cluster}): "
        return bool(commits) and commits[-1][1].startswith(prefix)

    def untouched(self, stack: str) -> bool:
        """A gitops stack of the failed wave that this rollout never changed (its deploy had
        not started): its stack file as recorded, no commit of this rollout, nothing rendered
        and uncommitted. There is nothing to put back; any other is rolled back."""
        rollout, journal = self.rollout, self.journal
        if not rollout.through_flux(stack):
            return False
        if rollout.project.stack_file(stack).read_text() != journal.stack_file(stack):
            return False
        directories = rollout.targets[stack].directories
        return not rollout_commits(rollout, stack, journal) and rollout.checkout(stack).clean(
            directories
        )
