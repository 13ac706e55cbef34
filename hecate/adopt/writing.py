"""The plan written: the stack file, the shared kustomization.yaml, the shared files removed."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..handmade_tree import (
    shared_files,
    users,
)
from ..project import stack_file_config, stack_file_document
from .model import AdoptRefused, Plan


def remove_shared_only(gitops: Path, shared_dir: str) -> list[str]:
    """`adopt --remove-shared` without a stack: the shared files, once no cluster syncs them."""
    still = users(gitops, shared_dir)
    if still:
        raise AdoptRefused(
            [
                f"--remove-shared: {shared_dir}/ is still synced by {', '.join(still)} "
                f"({', '.join(f'clusters/{c}/' for c in still)}); adopt those first"
            ]
        )
    return shared_files(gitops, shared_dir)


def stack_file_text(path: Path, result: Plan) -> str:
    """Pulumi.<stack>.yaml with the adopted settings: other top-level keys and config of other
    namespaces (secretsprovider, kubernetes:context) kept."""
    current = stack_file_document(path)
    config = {k: v for k, v in (current.get("config") or {}).items() if not k.startswith("hecate:")}
    document = {
        **{k: v for k, v in current.items() if k != "config"},
        "config": {**result.config, **config},
    }
    header = (
        f"# {result.cluster}: adopted from its hand-made tree ({result.handmade.sync.file}) by "
        "`hecate adopt`.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=1 << 16)


def existing_settings(path: Path) -> list[str]:
    config = stack_file_config(path)
    return sorted(k for k in config if k.startswith("hecate:") and k != "hecate:cluster")


def apply(result: Plan, stack_path: Path) -> None:
    """Write everything, each file whole (a temporary file renamed over it)."""
    writes = {stack_path: stack_file_text(stack_path, result)}
    writes.update({result.gitops / p: text for p, text in result.write.items()})
    for path, text in writes.items():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    for relative in result.remove:
        (result.gitops / relative).unlink(missing_ok=True)
