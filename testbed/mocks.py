"""Runs the real __main__.py for a stack under Pulumi mocks and records what it declares.

Nothing merges Pulumi.yaml and Pulumi.<stack>.yaml under mocks, so `evaluate`
does what the engine does (hecate/project.py): project values first, the
stack's over them, every value as the string the engine hands the program
(objects as JSON).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import runpy
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from hecate.project import Project, qualify, readable
from hecate.rendered_manifest import FILE_KEYS, TYPE_MODULE

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "__main__.py"
ON_DISK = Project(ROOT)
PROJECT = ON_DISK.name
# Objects rendered into the gitops tree are typed by their kind under this prefix.
RENDERED = f"pulumi-python:dynamic/{TYPE_MODULE}/"
# The kustomize file of a workloads directory: read by kustomize and Flux, never applied.
KUSTOMIZE_FILE = "kubernetes:kustomize.config.k8s.io/v1beta1:Kustomization"


@functools.cache
def _empty_project_dir() -> Path:
    """Where the program runs under mocks: a project directory with no gitops tree in it yet."""
    path = Path(tempfile.mkdtemp(prefix="hecate-mocks-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def stack_names() -> list[str]:
    return ON_DISK.stacks


def stack_config(stack: str) -> dict[str, Any]:
    """The stack's configuration as the engine would pass it, values still structured."""
    return ON_DISK.config(stack)


def _engine_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _qualify(key: str) -> str:
    return qualify(key, PROJECT)


@dataclass
class Declared:
    registered_type: str
    name: str
    inputs: dict[str, Any]
    provider: str
    custom: bool

    @property
    def rendered(self) -> bool:
        """A file of the gitops tree (hecate/rendered_manifest.py), not an object on a cluster."""
        return self.registered_type.startswith(RENDERED)

    @property
    def type(self) -> str:
        """The Kubernetes type (`kubernetes:apps/v1:DaemonSet`), rendered or applied alike."""
        return (
            "kubernetes:" + self.registered_type[len(RENDERED) :]
            if self.rendered
            else self.registered_type
        )

    @property
    def file(self) -> str | None:
        """Where a rendered object's file goes, relative to the project."""
        return os.path.join(self.inputs["root"], self.inputs["path"]) if self.rendered else None

    @property
    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object: inputs minus Pulumi's own keys and a rendered file's location.

        Mocks carry numbers as floats (protobuf Struct); the rendered YAML has integers.
        """
        skip = FILE_KEYS if self.rendered else ()
        return _integral(
            {k: v for k, v in self.inputs.items() if not k.startswith("__") and k not in skip}
        )


def _integral(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class Evaluation:
    stack: str
    resources: list[Declared] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    logs: list[str] = field(default_factory=list)

    def get(self, type_: str, name: str) -> Declared:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(matches) == 1, f"expected one {type_} {name!r}, found {len(matches)}"
        return matches[0]

    def kubernetes_objects(self) -> list[Declared]:
        return [
            r
            for r in self.resources
            if r.custom and r.type.startswith("kubernetes:") and r.type != KUSTOMIZE_FILE
        ]

    def rendered_files(self) -> dict[str, Declared]:
        """Every file of the gitops tree the stack renders, by path relative to the project."""
        return {r.file: r for r in self.resources if r.rendered}

    def provider_of(self, declared: Declared) -> Declared:
        """The provider resource a declared object was given."""
        urn = declared.provider.split("::")[-2] if declared.provider else ""
        providers = [
            r for r in self.resources if r.type == "pulumi:providers:kubernetes" and r.name == urn
        ]
        assert len(providers) == 1, (
            f"{declared.name} has no explicit kubernetes provider: {declared.provider!r}"
        )
        return providers[0]


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self, evaluation: Evaluation):
        self.evaluation = evaluation

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.evaluation.resources.append(
            Declared(args.typ, args.name, dict(args.inputs), args.provider or "", args.custom)
        )
        if args.typ == "pulumi-python:dynamic:Resource":
            # Seal for real, as the engine's dynamic provider would (it gets secrets unwrapped).
            from hecate.sealed_value import SealingProvider

            created = SealingProvider().create(
                {k: unwrap_secret(v) for k, v in args.inputs.items()}
            )
            return created.id, {**args.inputs, **created.outs}
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class _LogRecorder(logging.Handler):
    def __init__(self, evaluation: Evaluation):
        super().__init__(logging.DEBUG)
        self.evaluation = evaluation

    def emit(self, record: logging.LogRecord) -> None:
        self.evaluation.logs.append(record.getMessage())


def is_secret(value: Any) -> bool:
    """Whether a recorded input is a Pulumi secret (as the engine would receive it)."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def unwrap_secret(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


def evaluate(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    remove: Iterable[str] = (),
    secrets: Iterable[str] = (),
    preview: bool = False,
    project_dir: Path | None = None,
) -> Evaluation:
    """Run __main__.py for `stack`, with config keys overridden or removed, from `project_dir`
    (the engine runs programs from the project's directory; by default an empty one)."""
    config = stack_config(stack)
    config.update({_qualify(k): v for k, v in (overrides or {}).items()})
    for key in remove:
        config.pop(_qualify(key), None)

    # The tests cannot decrypt a stack file's encrypted values (the passphrase is the user's):
    # they keep their shape and their secrecy.
    config, encrypted = readable(config)
    secrets = {*secrets, *encrypted}

    evaluation = Evaluation(stack)
    logger = logging.getLogger(f"hecate.tests.{stack}")
    logger.handlers = [_LogRecorder(evaluation)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    runtime_settings.reset_options()
    pulumi.runtime.set_mocks(
        _Recorder(evaluation), project=PROJECT, stack=stack, preview=preview, logger=logger
    )
    pulumi.runtime.set_all_config(
        {k: _engine_value(v) for k, v in config.items()}, [_qualify(k) for k in secrets]
    )
    try:
        with contextlib.chdir(project_dir or _empty_project_dir()):
            _sync_await(run_pulumi_func(lambda: runpy.run_path(str(MAIN), run_name="__main__")))
    except Exception as error:  # the program's own failure is what some tests look at
        evaluation.error = error
        return evaluation
    root = runtime_settings.get_root_resource()
    # One wait for every output (each wait spins the event loop anew).
    resolved = _sync_await(pulumi.Output.from_input(root.outputs).future())
    evaluation.outputs = dict(resolved or {})
    return evaluation


# The settings that make a stack seal values; a stack file may hold them (as `secure:` values).
SEALING = ("apiKeys", "sealedSecrets", "sealingCert", "sealingScope")


def seals(stack: str) -> bool:
    """Whether the committed stack declares the SealedSecret."""
    config = stack_config(stack)
    return any(config.get(_qualify(key)) for key in ("apiKeys", "sealedSecrets"))


@functools.cache
def unsealed(stack: str) -> Evaluation:
    """The stack as committed less its sealing settings: for tests about everything else."""
    return evaluate(stack, remove=SEALING)


@functools.cache
def committed(stack: str) -> Evaluation:
    """The stack exactly as committed, evaluated once per test session (the program is
    deterministic); callers read it and never change it."""
    return evaluate(stack)
