"""Which way a rollout moves each cluster: the version its daemon pods run now against the one
the rollout deploys, in semantic-version order (python-semver: pre-releases before their
release, numeric identifiers as numbers). Nothing moves a cluster to an older version unless the
operator says so (`--allow-downgrade`); a failed wave's own rollback is not such a move.
"""

from __future__ import annotations

from collections.abc import Iterable

import semver


def _parsed(version: str) -> semver.Version | None:
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        return None


def running_version(images: Iterable[str], repository: str) -> str:
    """The newest version among the pods' images of `repository` ("" when none is a release
    version: no pods yet, another image, a tag such as `latest`)."""
    prefix = f"{repository}:"
    tags = [image.removeprefix(prefix) for image in images if image.startswith(prefix)]
    known = [(parsed, tag) for tag in tags if (parsed := _parsed(tag)) is not None]
    return max(known)[1] if known else ""


def is_older(target: str, running: str) -> bool:
    """Whether deploying `target` moves pods that run `running` backwards (False when either
    is unknown: nothing to compare)."""
    new, old = _parsed(target), _parsed(running)
    return new is not None and old is not None and new < old


class DowngradeRefused(ValueError):
    """Clusters the rollout would move to an older version, found before anything changes."""

    def __init__(self, moves: list[tuple[str, str, str, str]]):
        self.moves = moves
        lines = [
            f"stack {stack} ({cluster}): its pods run {running}, the rollout would deploy {target}"
            for stack, cluster, running, target in moves
        ]
        super().__init__(
            "refused: this rollout moves clusters to an older version (nothing was changed):\n"
            + "\n".join(f"  - {line}" for line in lines)
            + "\n  to go back on purpose, run it again with --allow-downgrade"
        )
