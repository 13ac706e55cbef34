"""Runs the real __main__.py for a stack under Pulumi mocks and records what it declares.

Nothing merges Pulumi.yaml and Pulumi.<stack>.yaml under mocks, so `stack_config`
does what the engine does: project values first, the stack's over them, every
value as the string the engine hands the program (objects as JSON).
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pulumi
import yaml
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "__main__.py"
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]


def stack_names() -> list[str]:
    """Every committed stack: each Pulumi.<stack>.yaml is one cluster."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def _engine_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _qualify(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def stack_config(stack: str) -> dict[str, Any]:
    """The stack's configuration as the engine would pass it, values still structured."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text()).get("config") or {}
    merged: dict[str, Any] = {}
    for key, spec in project.items():
        if isinstance(spec, dict) and ("value" in spec or "default" in spec):
            merged[_qualify(key)] = spec.get("value", spec.get("default"))
        elif not isinstance(spec, dict):
            merged[_qualify(key)] = spec
    stack_file = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    for key, value in (stack_file.get("config") or {}).items():
        merged[_qualify(key)] = value
    return merged


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str
    custom: bool

    @property
    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object as it would be rendered: inputs minus Pulumi's own keys.

        Mocks carry numbers as floats (protobuf Struct); the rendered YAML has integers.
        """
        return _integral({k: v for k, v in self.inputs.items() if not k.startswith("__")})


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

    def get(self, type_: str, name: str) -> Declared:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(matches) == 1, f"expected one {type_} {name!r}, found {len(matches)}"
        return matches[0]

    def kubernetes_objects(self) -> list[Declared]:
        return [r for r in self.resources if r.custom and r.type.startswith("kubernetes:")]

    def provider_of(self, declared: Declared) -> Declared:
        """The provider resource a declared object was given."""
        urn = declared.provider.split("::")[-2] if declared.provider else ""
        providers = [r for r in self.resources if r.type == "pulumi:providers:kubernetes" and r.name == urn]
        assert len(providers) == 1, f"{declared.name} has no explicit kubernetes provider: {declared.provider!r}"
        return providers[0]


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self, evaluation: Evaluation):
        self.evaluation = evaluation

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.evaluation.resources.append(
            Declared(args.typ, args.name, dict(args.inputs), args.provider or "", args.custom)
        )
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def _resolve(value: Any) -> Any:
    return _sync_await(pulumi.Output.from_input(value).future())


def evaluate(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    remove: Iterable[str] = (),
    secrets: Iterable[str] = (),
    preview: bool = False,
) -> Evaluation:
    """Run __main__.py for `stack`, with config keys overridden or removed."""
    config = stack_config(stack)
    config.update({_qualify(k): v for k, v in (overrides or {}).items()})
    for key in remove:
        config.pop(_qualify(key), None)

    evaluation = Evaluation(stack)
    runtime_settings.reset_options()
    pulumi.runtime.set_mocks(_Recorder(evaluation), project=PROJECT, stack=stack, preview=preview)
    pulumi.runtime.set_all_config(
        {k: _engine_value(v) for k, v in config.items()}, [_qualify(k) for k in secrets]
    )
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(MAIN), run_name="__main__")))
    except Exception as error:  # the program's own failure is what some tests look at
        evaluation.error = error
        return evaluation
    root = runtime_settings.get_root_resource()
    evaluation.outputs = {name: _resolve(value) for name, value in root.outputs.items()}
    return evaluation
