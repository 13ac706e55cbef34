"""Validation of declared or rendered objects against real schemas.

Kubernetes built-ins: kubernetes-validate, strict (unknown fields are errors).
Flux and SealedSecret: the openAPIV3Schema of the CRDs that the controllers' own Go modules
ship, at the versions a cluster runs, fetched into the cache by `scripts/install-pulumi`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from testbed.paths import CRDS

KUBERNETES_VERSION = "1.33.0"


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the schema of that served version."""
    paths = sorted(CRDS.glob("*.yaml"))
    assert len(paths) == 5, (
        f"the controllers' CRDs are missing from {CRDS}: run `scripts/install-pulumi --only crds`"
    )
    schemas = {}
    for path in paths:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def problems(manifest: dict[str, Any]) -> list[str]:
    """Why `manifest` is invalid, or [] when it validates."""
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    schema = crd_schemas().get(key)
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        return [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(manifest)
        ]
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {key}: neither a Kubernetes built-in nor a CRD in {CRDS}"]
    return []
