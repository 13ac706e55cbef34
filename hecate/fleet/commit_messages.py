"""What a rollout's commits say: `deploy(<cluster>): hecate-daemon <version>` for a version,
the settings a configuration change touched (from the stack's `settingsDigest` output before
and after), and the rollback that undoes either."""

from __future__ import annotations

from ..naming import VERSION_KEY

# The stack output in which the program lists a digest of each setting it deployed.
SETTINGS_DIGEST = "settingsDigest"
NAMED_IN_SUBJECT = 4  # settings named in a commit's subject; all of them in its body


def changed_settings(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The settings (or entries, `hecate:env.X`) whose digests differ, sorted; [] when the
    state before holds none (a first deploy, or one made before the digests existed)."""
    if not before:
        return []
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _named(settings: list[str]) -> tuple[str, str]:
    """The settings for a subject (a few, then how many more) and, when cut, a body."""
    if len(settings) <= NAMED_IN_SUBJECT:
        return ", ".join(settings), ""
    shown = ", ".join(settings[:NAMED_IN_SUBJECT])
    more = len(settings) - NAMED_IN_SUBJECT
    return f"{shown} and {more} more", "Settings changed:\n" + "\n".join(f"- {s}" for s in settings)


def deploy_message(cluster: str, version: str, changed: list[str] | None = None) -> str:
    """`deploy(<cluster>): hecate-daemon <version>` for a version; a configuration change names
    its settings: `deploy(<cluster>): hecate:logLevel (hecate-daemon 0.7.2)`."""
    changed = changed or []
    others = [c for c in changed if c != VERSION_KEY]
    named, body = _named(others)
    if not changed or VERSION_KEY in changed:
        subject = f"deploy({cluster}): hecate-daemon {version}" + (f", {named}" if named else "")
    else:
        subject = f"deploy({cluster}): {named} (hecate-daemon {version})"
    return f"{subject}\n\n{body}" if body else subject


def rollback_message(
    cluster: str, version: str, failed: str, changed: list[str] | None = None
) -> str:
    if version != failed:
        return f"rollback({cluster}): hecate-daemon {version} (from {failed})"
    named, body = _named([c for c in changed or [] if c != VERSION_KEY])
    subject = f"rollback({cluster}): hecate-daemon {version}, {named or 'its configuration'} undone"
    return f"{subject}\n\n{body}" if body else subject
