"""Every committed stack's objects pass the real validation: a server-side dry run on a fleet API
server with the Flux and sealed-secrets CRDs installed (beside kubernetes-validate's schemas)."""

from __future__ import annotations

import yaml

from testbed.fleet import fetch_cert
from testbed.mocks import stack_config
from testbed.scratch import new_project

CLUSTER = "dev-cluster"


def test_every_rendered_object_passes_a_server_side_dry_run(fleet, stack, tmp_path):
    project = new_project(tmp_path, stack)
    # The committed stack, plus a sealed key, so that the SealedSecret is checked too.
    for args in (
        ["hecate:sealingCert", "--", fetch_cert(fleet, CLUSTER)],
        ["--secret", "--path", "hecate:apiKeys.OPENAI_API_KEY", "--", "sk-dry-run-throwaway"],
    ):
        project.pulumi("config", "set", "--stack", stack, *args)
    project.pulumi("up", "--stack", stack, "--yes")
    cluster = stack_config(stack)["hecate:cluster"]
    tree = project.path / "gitops"
    files = sorted(
        p
        for d in (f"clusters/{cluster}", f"infrastructure/hecate/{cluster}")
        for p in (tree / d).glob("*.yaml")
        if p.name != "kustomization.yaml"
    )
    assert {p.name for p in files} >= {
        "hecate-gitrepository.yaml",
        "hecate-kustomization.yaml",
        "namespace.yaml",
        "configmap.yaml",
        "daemonset.yaml",
        "sealed-secret.yaml",
    }
    # A namespaced object's dry run needs its namespace to exist.
    namespace = next(p for p in files if p.name == "namespace.yaml")
    fleet.kubectl(CLUSTER, "apply", "--server-side", "-f", str(namespace))
    try:
        for path in files:
            done = fleet.kubectl(
                CLUSTER,
                "apply",
                "--server-side",
                "--dry-run=server",
                "--field-manager=hecate-dry-run",
                "-f",
                str(path),
                check=False,
            )
            assert done.returncode == 0, f"{path.name}: {done.stderr}"
            assert "(server dry run)" in done.stdout, done.stdout
        # The dry run is a real check: a field the CRD does not know is refused.
        bad = yaml.safe_load((tree / f"clusters/{cluster}/hecate-kustomization.yaml").read_text())
        bad["spec"]["pruneHarder"] = True
        done = fleet.kubectl(
            CLUSTER,
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            "-",
            input=yaml.safe_dump(bad),
            check=False,
        )
        assert done.returncode != 0 and "pruneHarder" in done.stderr, done.stderr
    finally:
        fleet.kubectl(CLUSTER, "delete", "-f", str(namespace), "--wait=true", check=False)
