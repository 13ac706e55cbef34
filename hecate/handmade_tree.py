"""A cluster deployed by hand the way the deployment guide says, read from its gitops tree.

The guide's layout: the shared manifests in `infrastructure/hecate/` (no kustomization.yaml:
Flux generates one), and for each cluster `clusters/<cluster>/hecate-kustomization.yaml`, a
Flux Kustomization `flux-system/hecate` with `path: ./infrastructure/hecate`, perhaps with
cluster-specific `spec.patches`. What the cluster runs is what Flux builds from that: the
shared files through kustomize with the Kustomization's targetNamespace and patches. It is
built here the same way, with kustomize itself, so that the patches mean what they mean to Flux.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import naming, rendered_manifest, safe_yaml

KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/"
FLUX_SOURCE_GROUP = "source.toolkit.fluxcd.io/"
Key = tuple[str, str]  # (kind, name)
# The objects the program renders for a cluster's workloads; anything else Flux would prune.
WORKLOADS = {
    ("Namespace", naming.NAMESPACE),
    ("ConfigMap", naming.CONFIG_MAP),
    ("DaemonSet", naming.DAEMON),
    ("SealedSecret", naming.SECRET),
}


class TreeRefused(ValueError):
    """The tree cannot be read as a guide-built cluster: each problem names its file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Document:
    file: str  # relative to the gitops checkout
    manifest: dict[str, Any]

    @property
    def key(self) -> Key:
        return self.manifest.get("kind", ""), self.manifest.get("metadata", {}).get("name", "")


@dataclass(frozen=True)
class HandmadeCluster:
    cluster: str
    sync: Document  # the Flux Kustomization flux-system/hecate, as written
    crowded_files: frozenset[str]  # files of clusters/<cluster>/ holding several objects
    source: Document | None  # the GitRepository hecate-gitops, when it is in the tree
    shared_dir: str  # where the Kustomization points, e.g. infrastructure/hecate
    shared_files: tuple[str, ...]  # the files Flux builds there (kustomization file included)
    written: dict[Key, Document]  # each workload object as its file holds it
    built: dict[Key, dict[str, Any]]  # each as Flux builds it (targetNamespace, patches)

    @property
    def has_kustomize_file(self) -> bool:
        return any(Path(f).name in KUSTOMIZE_FILES for f in self.shared_files)


def _documents(path: Path, root: Path) -> Iterator[Document]:
    relative = str(path.relative_to(root))
    try:
        loaded = safe_yaml.load_all(path.read_text(encoding="utf-8"), relative)
    except UnicodeDecodeError as error:
        raise TreeRefused([f"{relative}: not valid YAML ({error})"]) from None
    except safe_yaml.YamlRefused as refused:
        raise TreeRefused([str(refused)]) from None
    for manifest in loaded:
        if isinstance(manifest, dict) and "kind" in manifest:
            yield Document(relative, manifest)


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _rendered(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return rendered_manifest.owner(handle.readline())
    except (OSError, UnicodeDecodeError):
        return None


def is_flux_kustomization(manifest: dict[str, Any]) -> bool:
    return manifest.get("kind") == "Kustomization" and str(
        manifest.get("apiVersion", "")
    ).startswith(FLUX_KUSTOMIZE_GROUP)


def flux_kustomizations(gitops: Path) -> list[Document]:
    """Every Flux Kustomization of every cluster's directory (clusters/*/)."""
    found = []
    for path in _yaml_files(gitops / "clusters"):
        found += [d for d in _documents(path, gitops) if is_flux_kustomization(d.manifest)]
    return found


def synced_path(kustomization: dict[str, Any]) -> str:
    """A Kustomization's spec.path as a directory of the checkout (`./a/b` → `a/b`)."""
    return os.path.normpath(str(kustomization.get("spec", {}).get("path", ".")).lstrip("/"))


def cluster_of(document: Document) -> str:
    return Path(document.file).parts[1]


def users(gitops: Path, shared_dir: str) -> list[str]:
    """The clusters whose Kustomization still syncs `shared_dir`."""
    return sorted(
        {
            cluster_of(d)
            for d in flux_kustomizations(gitops)
            if synced_path(d.manifest) == shared_dir
        }
    )


def shared_files(gitops: Path, shared_dir: str) -> list[str]:
    """The files Flux builds in `shared_dir`: its kustomization file and what that lists, or,
    without one, what Flux's generator takes in (every manifest below it), leaving out the
    directories a stack renders (the clusters already moved)."""
    directory = gitops / shared_dir
    if not directory.is_dir():
        raise TreeRefused([f"{shared_dir}/: no such directory in {gitops}"])
    own = [directory / name for name in KUSTOMIZE_FILES if (directory / name).is_file()]
    if own:
        try:
            listed = safe_yaml.load(own[0].read_text(), str(own[0].relative_to(gitops))) or {}
        except safe_yaml.YamlRefused as refused:
            raise TreeRefused([str(refused)]) from None
        listed = (listed.get("resources") if isinstance(listed, dict) else None) or []
        files = [own[0]] + [directory / entry for entry in listed]
        not_files = [str(f.relative_to(gitops)) for f in files if not f.is_file()]
        if not_files:
            raise TreeRefused(
                [
                    f"{own[0].relative_to(gitops)}: lists {', '.join(not_files)}, which adopt "
                    "reads only as files of this directory"
                ]
            )
        return sorted(str(f.relative_to(gitops)) for f in files)
    problems, files = [], []
    rendered_dirs = {p.parent for p in _yaml_files(directory) if _rendered(p)}
    for path in _yaml_files(directory):
        if any(d == path.parent or d in path.parents for d in rendered_dirs):
            continue
        nested = next(
            (
                a
                for a in path.parents
                if a != directory
                and directory in a.parents
                and any((a / k).is_file() for k in KUSTOMIZE_FILES)
            ),
            None,
        )
        if nested is not None:
            problems.append(
                f"{nested.relative_to(gitops)}/: a kustomization of its own below {shared_dir}/, "
                "which adopt does not read; flatten it into the shared files first"
            )
            continue
        if list(_documents(path, gitops)):
            files.append(str(path.relative_to(gitops)))
    if problems:
        raise TreeRefused(sorted(set(problems)))
    return files


def kustomize_binary() -> str:
    """kustomize, from PATH or the project's cache (`make engine` builds it)."""
    cache = naming.engine_cache() / "bin"
    found = shutil.which("kustomize") or shutil.which("kustomize", path=str(cache))
    if not found:
        raise TreeRefused(
            [
                "adopt builds the tree as Flux does, with kustomize, which is not on PATH nor in "
                f"{cache}: `make engine` builds it there"
            ]
        )
    return found


def build(gitops: Path, sync: dict[str, Any], files: list[str], shared_dir: str) -> list[dict]:
    """What Flux applies for `sync`: the shared files through kustomize, with the
    Kustomization's targetNamespace and patches, as Flux's own generated kustomization does."""
    spec = sync.get("spec", {})
    with tempfile.TemporaryDirectory(prefix="hecate-adopt-") as work:
        base = Path(work) / "base"
        for file in files:
            target = base / Path(file).relative_to(shared_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(gitops / file, target)
        if not any((base / name).is_file() for name in KUSTOMIZE_FILES):
            generated = {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(Path(f).relative_to(shared_dir)) for f in files],
            }
            (base / "kustomization.yaml").write_text(yaml.safe_dump(generated))
        top: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": ["base"],
        }
        if spec.get("targetNamespace"):
            top["namespace"] = spec["targetNamespace"]
        if spec.get("patches"):
            top["patches"] = spec["patches"]
        (Path(work) / "kustomization.yaml").write_text(yaml.safe_dump(top))
        done = subprocess.run(
            [kustomize_binary(), "build", "--load-restrictor", "LoadRestrictionsNone", work],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        message = done.stderr.strip().replace(work, shared_dir)
        raise TreeRefused(
            [
                f"{shared_dir}/ with the patches of the cluster's Kustomization: "
                f"kustomize build fails as Flux's would: {message}"
            ]
        )
    try:
        built = safe_yaml.load_all(done.stdout, f"kustomize build of {shared_dir}/")
    except safe_yaml.YamlRefused as refused:
        raise TreeRefused([str(refused)]) from None
    return [m for m in built if isinstance(m, dict)]


def _only(found: list[Document], what: str, where: str, required: bool) -> Document | None:
    if len(found) > 1:
        raise TreeRefused(
            [
                f"{where}: {len(found)} {what} ({', '.join(d.file for d in found)}); "
                "a cluster has exactly one"
            ]
        )
    if not found and required:
        raise TreeRefused([f"{where}: no {what}"])
    return found[0] if found else None


def read(gitops: Path, cluster: str) -> HandmadeCluster:
    """The cluster as its hand-made tree deploys it, or TreeRefused naming each file that
    cannot be read as the guide's layout."""
    cluster_dir = gitops / "clusters" / cluster
    where = f"clusters/{cluster}/"
    if not cluster_dir.is_dir():
        present = sorted(p.name for p in (gitops / "clusters").glob("*") if p.is_dir())
        raise TreeRefused(
            [f"{where}: no such directory in {gitops} (clusters: {', '.join(present) or 'none'})"]
        )
    documents = [
        d
        for path in _yaml_files(cluster_dir)
        if "flux-system" not in path.relative_to(cluster_dir).parts
        for d in _documents(path, gitops)
    ]
    sync = _only(
        [
            d
            for d in documents
            if is_flux_kustomization(d.manifest) and d.key[1] == naming.KUSTOMIZATION
        ],
        f"Flux Kustomization named {naming.KUSTOMIZATION}",
        where,
        required=True,
    )
    assert sync is not None
    if owner := _rendered(gitops / sync.file):
        raise TreeRefused([f"{sync.file}: already rendered by stack {owner!r}; nothing to adopt"])
    source = _only(
        [
            d
            for d in documents
            if d.key == ("GitRepository", naming.GIT_REPOSITORY)
            and str(d.manifest.get("apiVersion", "")).startswith(FLUX_SOURCE_GROUP)
        ],
        f"GitRepository named {naming.GIT_REPOSITORY}",
        where,
        required=False,
    )
    files_seen = [d.file for d in documents]
    crowded = frozenset(f for f in files_seen if files_seen.count(f) > 1)
    shared_dir = synced_path(sync.manifest)
    files = shared_files(gitops, shared_dir)
    written = [
        d
        for f in files
        if Path(f).name not in KUSTOMIZE_FILES
        for d in _documents(gitops / f, gitops)
    ]
    problems = []
    for document in written:
        kind, name = document.key
        if kind == "Secret":
            problems.append(
                f"{document.file}: Secret/{name} in clear in git; seal it with kubeseal first"
            )
        elif (kind, name) not in WORKLOADS:
            problems.append(
                f"{document.file}: {kind}/{name} is no object the program renders "
                f"({', '.join(f'{k}/{n}' for k, n in sorted(WORKLOADS))}); after the move Flux "
                "would prune it: move it to a Kustomization of its own first"
            )
    daemons = [d for d in written if d.key[0] == "DaemonSet"]
    if not daemons:
        problems.append(
            f"{shared_dir}/: no DaemonSet (the guide's daemonset.yaml) among "
            f"{', '.join(files) or 'no files'}"
        )
    elif len(daemons) > 1:
        problems.append(
            f"{shared_dir}/: {len(daemons)} DaemonSets ({', '.join(d.file for d in daemons)}); "
            f"the guide has one, {naming.DAEMON}"
        )
    for kind in ("ConfigMap", "SealedSecret", "Namespace"):
        several = [d for d in written if d.key[0] == kind]
        if len(several) > 1:
            problems.append(
                f"{shared_dir}/: {len(several)} {kind}s "
                f"({', '.join(d.file for d in several)}); the guide has one"
            )
    for document in written:
        if document.key[0] == "SealedSecret":
            problems += sealed_for_another_namespace(document)
    if problems:
        raise TreeRefused(problems)
    built = {
        (m["kind"], m["metadata"]["name"]): m
        for m in build(gitops, sync.manifest, files, shared_dir)
    }
    return HandmadeCluster(
        cluster=cluster,
        sync=sync,
        crowded_files=crowded,
        source=source,
        shared_dir=shared_dir,
        shared_files=tuple(files),
        written={d.key: d for d in written},
        built=built,
    )


def sealed_for_another_namespace(document: Document) -> list[str]:
    """A strict or namespace-wide value opens only in the namespace it was sealed for."""
    manifest = document.manifest
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    if annotations.get("sealedsecrets.bitnami.com/cluster-wide") == "true":
        return []
    template = manifest.get("spec", {}).get("template", {}).get("metadata") or {}
    for where, namespace in (
        ("metadata.namespace", manifest.get("metadata", {}).get("namespace")),
        ("spec.template.metadata.namespace", template.get("namespace")),
    ):
        if namespace not in (None, naming.NAMESPACE):
            return [
                f"{document.file}: SealedSecret/{document.key[1]} is sealed for namespace "
                f"{namespace!r} ({where}); the daemon's is {naming.NAMESPACE!r}, where its "
                "controller cannot open it: seal the values again for namespace "
                f"{naming.NAMESPACE!r}"
            ]
    return []
