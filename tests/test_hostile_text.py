"""Hostile text in every text setting: refused with a clean message, or read by its consumer as
exactly what was written.

For each place a setting's text goes (a plain setting, or a field inside a structured one),
hypothesis generates text made to break things: control characters, newlines, YAML's special
characters and words (`null`, `yes`, `0x1F`, `1e3`), Unicode digits and spaces, and text shaped
like the setting's own values. Each value is either

- refused: `ConfigError` whose problems each fit on one line, one of them naming the key; or
- accepted: the setting holds exactly that text, and where the program renders it, the rendered
  YAML read back by PyYAML (YAML 1.1) and by ruamel.yaml (YAML 1.2, as kustomize and Flux read
  it) gives that text at the place its consumer reads it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from hecate.cluster import ClusterObjects
from hecate.rendered_manifest import to_yaml
from hecate.settings import ConfigError, Settings, parse

SOURCE = {"url": "ssh://git@github.com/hecate-social/hecate-gitops", "branch": "main"}
BASE = {"cluster": "beam-cluster", "version": "0.7.2", "gitops": {**SOURCE, "interval": "1m"}}

# Characters and words that parsers, YAML and shells treat specially.
SPECIAL = list(":#&*!|>'\"%@`{}[],?-~=/\\.;$^ \t\n\r\x00\x0b\x85\u00a0\u2028\ufeff")
SHAPED = list("abcxyzAZ0123456789eEKMGimnuhs+_-./:@") + SPECIAL
WORDS = [
    *("", " ", "null", "Null", "~", "true", "yes", "on", "no", "off", "y", "n"),
    *("0x1F", "0o17", "017", "08", "1e3", "1_000", ".inf", "-.nan", "-1", "+1", "1.0"),
    *("latest", "1m", "1h30m", "100m", "1Gi", "25%", "0", "localhost", "a" * 64, "a" * 254),
    *("http://localhost:11434", "https://example.com/x", "ssh://git@example.com/r", "main"),
]
HOSTILE = st.one_of(
    st.text(max_size=40),  # anything: every Unicode category, controls included
    st.text(alphabet=st.sampled_from(SHAPED), max_size=40),
    st.sampled_from(WORDS),
    st.builds(
        lambda w, s: w + s, st.sampled_from(WORDS), st.text(st.sampled_from(SPECIAL), max_size=3)
    ),
)

_YAML12 = YAML(typ="safe", pure=True)


def read_back(manifest: Any) -> list[Any]:
    """The rendered text as the two kinds of reader read it."""
    text = to_yaml(manifest)
    return [yaml.safe_load(text), _YAML12.load(io.StringIO(text))]


def container(daemon_set: dict) -> dict:
    return daemon_set["spec"]["template"]["spec"]["containers"][0]


def pod(daemon_set: dict) -> dict:
    return daemon_set["spec"]["template"]["spec"]


@dataclass(frozen=True)
class Place:
    """Where a text goes: the key named in a refusal, the config that carries it, what the parsed
    settings hold, and (when rendered) the object and the field its consumer reads."""

    key: str
    config: Callable[[str], dict[str, Any]]
    held: Callable[[Settings], Any]
    rendered: tuple[str, Callable[[dict], Any]] | None = None
    kube: bool = False


def setting(key: str) -> Callable[[str], dict[str, Any]]:
    return lambda value: {key: value}


def gitops_field(field: str) -> Callable[[str], dict[str, Any]]:
    """The text as one field of hecate:gitops, beside valid ones."""
    return lambda value: {"gitops": {**GITOPS, field: value}}


def data(name: str) -> Callable[[dict], Any]:
    return lambda config_map: config_map["data"][name]


def extra_data(config_map: dict) -> Any:
    return next(k for k in config_map["data"] if k not in ("OLLAMA_HOST", "HECATE_LOG_LEVEL"))


def in_pod(*path: Any) -> Callable[[dict], Any]:
    def read(daemon_set: dict) -> Any:
        value: Any = pod(daemon_set)
        for step in path:
            value = value[step]
        return value

    return read


def first_key(daemon_set: dict) -> Any:
    return next(iter(pod(daemon_set)["nodeSelector"]))


GITOPS = {"url": SOURCE["url"], "branch": "main", "interval": "1m", "secretRef": "flux-system"}
LIMITS = {"limits": {"cpu": "1e9"}}
EQUAL = {"key": "k", "operator": "Equal"}
DS, CM, GIT, KS = "daemon_set", "config_map", "git_repository", "kustomization"

PLACES = [
    Place("hecate:cluster", setting("cluster"), lambda s: s.cluster,
          (KS, lambda k: k["spec"]["path"].removeprefix("./infrastructure/hecate/"))),
    Place("hecate:version", setting("version"), lambda s: s.version,
          (DS, lambda d: container(d)["image"].rpartition(":")[2])),
    Place("hecate:image", setting("image"), lambda s: s.image,
          (DS, lambda d: container(d)["image"].rpartition(":")[0])),
    Place("hecate:ollamaHost", setting("ollamaHost"), lambda s: s.ollama_host,
          (CM, data("OLLAMA_HOST"))),
    Place("hecate:logLevel", setting("logLevel"), lambda s: s.log_level,
          (CM, data("HECATE_LOG_LEVEL"))),
    Place("hecate:priorityClassName", setting("priorityClassName"),
          lambda s: s.priority_class_name, (DS, in_pod("priorityClassName"))),
    Place("hecate:healthTimeout", setting("healthTimeout"), lambda s: s.health_timeout,
          (KS, lambda k: k["spec"]["timeout"])),
    Place("hecate:maxUnavailable", setting("maxUnavailable"), lambda s: s.max_unavailable,
          (DS, lambda d: d["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"])),
    Place("hecate:delivery", setting("delivery"), lambda s: s.delivery),
    Place("hecate:gitopsDir", setting("gitopsDir"), lambda s: s.gitops_dir),
    Place("hecate:sealingScope", setting("sealingScope"), lambda s: s.sealing_scope),
    Place("hecate:sealingCert", setting("sealingCert"), lambda s: s.sealing_cert),
    Place("hecate:env", lambda v: {"env": {"HECATE_EXTRA": v}},
          lambda s: s.env["HECATE_EXTRA"], (CM, data("HECATE_EXTRA"))),
    Place("hecate:env", lambda v: {"env": {v: "x"}}, lambda s: next(iter(s.env)),
          (CM, extra_data)),
    Place("hecate:nodeSelector", lambda v: {"nodeSelector": {v: "yes"}},
          lambda s: next(iter(s.node_selector)), (DS, first_key)),
    Place("hecate:nodeSelector", lambda v: {"nodeSelector": {"pool": v}},
          lambda s: s.node_selector["pool"], (DS, in_pod("nodeSelector", "pool"))),
    Place("hecate:imagePullSecrets", lambda v: {"imagePullSecrets": [v]},
          lambda s: s.image_pull_secrets[0], (DS, in_pod("imagePullSecrets", 0, "name"))),
    Place("hecate:tolerations", lambda v: {"tolerations": [{"key": v, "operator": "Exists"}]},
          lambda s: s.tolerations[0].key, (DS, in_pod("tolerations", 0, "key"))),
    Place("hecate:tolerations", lambda v: {"tolerations": [{**EQUAL, "value": v}]},
          lambda s: s.tolerations[0].value, (DS, in_pod("tolerations", 0, "value"))),
    Place("hecate:resources", lambda v: {"resources": {"requests": {"cpu": v}, **LIMITS}},
          lambda s: s.resources.request_cpu,
          (DS, lambda d: container(d)["resources"]["requests"]["cpu"])),
    Place("hecate:gitops", gitops_field("url"), lambda s: s.gitops.url,
          (GIT, lambda g: g["spec"]["url"])),
    Place("hecate:gitops", gitops_field("branch"),
          lambda s: s.gitops.branch, (GIT, lambda g: g["spec"]["ref"]["branch"])),
    Place("hecate:gitops", gitops_field("interval"),
          lambda s: s.gitops.interval, (GIT, lambda g: g["spec"]["interval"])),
    Place("hecate:gitops", gitops_field("secretRef"),
          lambda s: s.gitops.secret_ref or "",
          (GIT, lambda g: g["spec"].get("secretRef", {}).get("name", ""))),
    Place("kubernetes:context", setting("context"), lambda s: s.kube_context, kube=True),
    Place("kubernetes:kubeconfig", setting("kubeconfig"), lambda s: s.kubeconfig, kube=True),
]  # fmt: skip


def settle(place: Place, value: str) -> Settings | None:
    """The settings, or None after checking that the refusal is clean and names the key."""
    config = place.config(value)
    try:
        return parse({**BASE, **config}) if not place.kube else parse(BASE, kube=config)
    except ConfigError as error:
        assert error.problems, "a refusal without a problem"
        for problem in error.problems:
            assert "\n" not in problem and "\r" not in problem, problem
        key = place.key.split(".")[0]
        assert any(p.startswith(key) for p in error.problems), (key, error.problems)
        return None


@pytest.mark.parametrize("place", PLACES, ids=[f"{p.key}-{i}" for i, p in enumerate(PLACES)])
@hypothesis_settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(value=HOSTILE)
def test_hostile_text_is_refused_cleanly_or_read_back_exactly(place, value):
    settings = settle(place, value)
    if settings is None:
        return
    held = place.held(settings)
    if value == "" and held in (None, ""):
        return  # an optional setting left empty is unset, as documented: nothing is rendered
    assert held == value or str(held) == value, (place.key, value, held)
    if place.rendered is None:
        return
    field, read = place.rendered
    objects = ClusterObjects.of(settings)
    manifest = getattr(objects, field)
    for reader_copy in read_back(manifest):
        assert reader_copy == manifest, "a reader reads the rendered object otherwise"
        assert str(read(reader_copy)) == value, (place.key, value)


def test_the_places_cover_every_text_setting():
    """A setting added without a place here is caught: each key of type string has one."""
    from hecate.settings import SETTINGS

    text_keys = {spec.name for _, spec in SETTINGS if spec.type == "string"}
    assert text_keys <= {p.key.split(".")[0] for p in PLACES}
