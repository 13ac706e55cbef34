"""The program under the real Pulumi engine, for every committed stack.

Each stack runs in its own temporary copy of the project with a throwaway file
backend, through the whole life of a cluster: preview, up, a no-op preview, a
rollout and its rollback, bad config, direct delivery against an unreachable
cluster, and destroy.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from testbed.mocks import seals, stack_config, stack_names
from testbed.paths import BIN, ROOT
from testbed.scratch import new_project
from tests import schemas
from tests.test_fleet_identity import FILES as FLEET_IDENTITY

RENDERED = "pulumi-python:dynamic/gitops/"
DAEMON_SET = f"{RENDERED}apps/v1:DaemonSet"
# What one stack declares: (type, name) of every resource, the Stack included.
EXPECTED_RESOURCES = {
    ("pulumi:pulumi:Stack", None),
    ("hecate:index:Cluster", "{cluster}"),
    (f"{RENDERED}core/v1:Namespace", "hecate"),
    ("hecate:index:Daemon", "daemon"),
    (f"{RENDERED}core/v1:ConfigMap", "hecate-config"),
    (DAEMON_SET, "hecate-daemon"),
    (f"{RENDERED}kustomize.config.k8s.io/v1beta1:Kustomization", "kustomization"),
    ("hecate:index:FluxSync", "flux-sync"),
    (f"{RENDERED}source.toolkit.fluxcd.io/v1:GitRepository", "hecate-gitops"),
    (f"{RENDERED}kustomize.toolkit.fluxcd.io/v1:Kustomization", "hecate"),
    ("hecate:index:FleetAccess", "fleet-access"),
    *((t.replace("kubernetes:", RENDERED), n) for t, n, _ in FLEET_IDENTITY.values()),
}
# The files `pulumi up` renders: Flux's multi-cluster layout, named as the guide names them.
EXPECTED_FILES = {
    "gitops/infrastructure/hecate/{cluster}/kustomization.yaml",
    "gitops/infrastructure/hecate/{cluster}/namespace.yaml",
    "gitops/infrastructure/hecate/{cluster}/configmap.yaml",
    "gitops/infrastructure/hecate/{cluster}/daemonset.yaml",
    "gitops/clusters/{cluster}/hecate-gitrepository.yaml",
    "gitops/clusters/{cluster}/hecate-kustomization.yaml",
    *(f"gitops/{path}" for path in FLEET_IDENTITY),
}
DAEMON_FILE = "gitops/infrastructure/hecate/{cluster}/daemonset.yaml"


def expected(stack: str) -> tuple[set, set]:
    """The resources and files of a stack, the sealed secret's included where it seals values."""
    cluster = stack_config(stack)["hecate:cluster"]
    resources = {(t, n and n.format(cluster=cluster)) for t, n in EXPECTED_RESOURCES}
    files = {f.format(cluster=cluster) for f in EXPECTED_FILES}
    if seals(stack):
        resources |= {
            ("hecate:index:SealedSecrets", "secrets"),
            (f"{RENDERED}bitnami.com/v1alpha1:SealedSecret", "hecate-secrets"),
        }
        resources |= {
            ("pulumi-python:dynamic:Resource", key)
            for key in stack_config(stack).get("hecate:apiKeys", {})
        }
        files.add(f"gitops/infrastructure/hecate/{cluster}/sealed-secret.yaml")
    return resources, files


UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
current-context: nowhere
users:
- name: nobody
  user: {token: e2e-placeholder}
"""


def resource_key(step: dict) -> tuple[str, str | None]:
    urn = step["urn"]
    type_ = urn.split("::")[2].split("$")[-1]
    return type_, None if type_ == "pulumi:pulumi:Stack" else urn.split("::")[3]


def kustomize_build(directory: Path, scratch: Path) -> str:
    """`kustomize build` of a directory as Flux builds it: with its own kustomization.yaml, or,
    where it has none (clusters/<name>/, whose directory Flux's bootstrap owns), one generated
    from the manifests in it the way Flux generates it."""
    kustomize = str(BIN / "kustomize")
    if not (directory / "kustomization.yaml").exists():
        copy = scratch / directory.name
        shutil.copytree(directory, copy)
        subprocess.run([kustomize, "create", "--autodetect", "--recursive"], cwd=copy, check=True)
        directory = copy
    done = subprocess.run([kustomize, "build", str(directory)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def readme_preview() -> list[str]:
    """The lines of `make preview`'s output in the README's "What a reviewer sees" (the resource
    line and the summary, its count of unchanged resources included)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### What a reviewer sees") :]
    start = section.index("```\n") + 4
    lines = section[start : section.index("\n```", start)].splitlines()
    assert lines[0].startswith("$ pulumi config set hecate:version") and "make preview" in lines[0]
    shown = lines[1 : next(i for i, line in enumerate(lines) if i and line.startswith("$ "))]
    assert any(line.strip().endswith("unchanged") for line in shown), shown
    return shown


@pytest.mark.parametrize("stack", stack_names())
def test_stack_lifecycle(stack, tmp_path):
    cluster = stack_config(stack)["hecate:cluster"]
    project = new_project(tmp_path, stack)
    expected_resources, expected_files = expected(stack)
    daemon_file = project.path / DAEMON_FILE.format(cluster=cluster)

    # Preview lists exactly the expected resources, all to be created, and writes nothing.
    steps = project.preview_steps(stack)
    assert {resource_key(s) for s in steps} == expected_resources
    assert {s["op"] for s in steps} == {"create"}
    assert project.files() == {}

    # Up writes exactly the expected files, each valid against the real schemas.
    project.pulumi("up", "--stack", stack, "--yes", "--skip-preview")
    rendered = project.files()
    assert set(rendered) == expected_files
    for file in rendered:
        text = (project.path / file).read_text()
        assert text.startswith(
            f'# Rendered by hecate stack "{stack}": change Pulumi.{stack}.yaml, not this file.\n'
        )
        assert text.endswith("\n") and not text.endswith("\n\n")
        documents = list(yaml.safe_load_all(text))
        assert len(documents) == 1, f"{file}: one object per file"
        if not file.endswith("/kustomization.yaml"):
            assert schemas.problems(documents[0]) == [], file
    outputs = project.pulumi("stack", "output", "--stack", stack, "--json").out
    assert f'"workloads": "gitops/infrastructure/hecate/{cluster}"' in outputs

    # Both directories build with kustomize as Flux would build them; the workloads' as they are.
    built = kustomize_build(
        project.path / f"gitops/infrastructure/hecate/{cluster}", tmp_path / "k1"
    )
    assert {d["kind"] for d in yaml.safe_load_all(built)} == {
        "Namespace",
        "ConfigMap",
        "DaemonSet",
        "Role",
        "RoleBinding",
    } | ({"SealedSecret"} if seals(stack) else set())
    built = kustomize_build(project.path / f"gitops/clusters/{cluster}", tmp_path / "k2")
    assert {d["kind"] for d in yaml.safe_load_all(built)} == {
        "GitRepository",
        "Kustomization",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }

    # Nothing to do right after; a second run renders the same bytes.
    project.pulumi("preview", "--stack", stack, "--expect-no-changes")
    project.pulumi("up", "--stack", stack, "--yes", "--skip-preview")
    assert project.files() == rendered

    # Rollout: one update, the DaemonSet, and its rendered image follows.
    version = str(stack_config(stack)["hecate:version"])
    major, minor, patch = version.split(".")
    project.pulumi(
        "config", "set", "hecate:version", f"{major}.{minor}.{int(patch) + 1}", "--stack", stack
    )
    changed = [resource_key(s) for s in project.preview_steps(stack) if s["op"] != "same"]
    assert changed == [(DAEMON_SET, "hecate-daemon")]
    if stack == "beam" and not seals(stack):  # the README shows the committed beam's preview
        shown = {
            line.strip() for line in project.pulumi("preview", "--stack", stack).out.splitlines()
        }
        assert [line for line in readme_preview() if line.strip() not in shown] == [], shown
    assert [s["op"] for s in project.preview_steps(stack) if s["op"] != "same"] == ["update"]
    project.pulumi("up", "--stack", stack, "--yes", "--skip-preview")
    after = project.files()
    assert {f for f in rendered if rendered[f] != after[f]} == {
        str(daemon_file.relative_to(project.path))
    }
    image = yaml.safe_load(daemon_file.read_text())["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image.endswith(f":{major}.{minor}.{int(patch) + 1}")

    # Rollback: the previous version restores the rendered files byte for byte.
    project.pulumi("config", "set", "hecate:version", version, "--stack", stack)
    project.pulumi("up", "--stack", stack, "--yes", "--skip-preview")
    assert project.files() == rendered

    # Bad config: a clear message, a non-zero exit, and nothing touched.
    state_before = project.pulumi("stack", "export", "--stack", stack).out
    project.pulumi("config", "set", "hecate:logLevel", "verbose", "--stack", stack)
    result = project.pulumi("preview", "--stack", stack, check=False)
    assert result.code != 0
    assert "hecate:logLevel: 'verbose' is not one of debug, info, warn, error" in result.text
    assert "Traceback" not in result.text
    result = project.pulumi("up", "--stack", stack, "--yes", check=False)
    assert result.code != 0 and "hecate:logLevel" in result.text
    assert project.files() == rendered
    assert project.pulumi("stack", "export", "--stack", stack).out == state_before
    project.pulumi("config", "rm", "hecate:logLevel", "--stack", stack)
    if "hecate:logLevel" in stack_config(stack):
        project.pulumi(
            "config",
            "set",
            "hecate:logLevel",
            stack_config(stack)["hecate:logLevel"],
            "--stack",
            stack,
        )
    project.pulumi("preview", "--stack", stack, "--expect-no-changes")

    # Destroy removes the rendered files and the directories they leave empty.
    project.pulumi("destroy", "--stack", stack, "--yes", "--skip-preview")
    assert list((project.path / "gitops").iterdir()) == []


@pytest.mark.parametrize("stack", stack_names())
def test_direct_delivery_to_an_unreachable_cluster_fails_clearly(stack, tmp_path):
    project = new_project(tmp_path, stack)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    project.pulumi("config", "set", "hecate:delivery", "direct", "--stack", stack)
    project.pulumi("config", "set", "kubernetes:kubeconfig", str(kubeconfig), "--stack", stack)
    result = project.pulumi(
        "up", "--stack", stack, "--yes", "--skip-preview", check=False, timeout=300
    )
    assert result.code != 0
    assert "127.0.0.1:9" in result.text and "unreachable" in result.text.lower(), result.text
    assert "Traceback" not in result.text
    assert project.files() == {}
