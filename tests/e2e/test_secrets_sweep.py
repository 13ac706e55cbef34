"""No credential in a rendered file, the state or a log, for every setting present and future.

Each setting of the table gets a canary in the shape it takes, set as a Pulumi secret; the real
engine previews and updates the stack with verbose logging, and every place a value could land
is searched: the rendered tree, `pulumi stack export` (no --show-secrets), every file of the
backend, the engine's, the providers' and the program's logs, the stack outputs, and the
`fleet` commands' output. A setting the program renders in clear refuses to be a secret, before
anything runs; the one that takes secrets (hecate:apiKeys) keeps them Pulumi secrets end to end.
A credential set in clear in a URL is refused before anything runs, and never echoed.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from hecate.settings import SETTINGS, TAKES_SECRETS
from testbed import certs
from testbed.scratch import Project, new_project

STACK = "beam"
VERBOSE = ("-v=9", "--logtostderr", "--logflow")
# How `pulumi stack export` marks a secret: this signature, then its ciphertext.
SIGNATURE, SECRET = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def token() -> str:
    return f"c{secrets.token_hex(10)}"  # lowercase hex: fits names, paths and branches


def cert_body(pem: str) -> str:
    """A slice of a certificate's base64 that no other text holds."""
    return "".join(pem.splitlines()[1:-1])[40:80]


# For each setting: the `pulumi config set --path` assignments that give it a value in its shape,
# and the text of that value to search for (None where the shape leaves no room for a canary:
# a choice, a number, a flag). A setting added to the table without a row here fails the sweep.
def shapes(canary: str) -> dict[str, tuple[list[tuple[str, str]], str | None]]:
    pem = certs.controller()[0]
    sealed = (canary * 40)[:400]
    return {
        "hecate:cluster": ([("hecate:cluster", canary)], canary),
        "hecate:version": ([("hecate:version", f"0.7.2-{canary}")], canary),
        "hecate:image": ([("hecate:image", f"ghcr.io/hecate/{canary}")], canary),
        "hecate:ollamaHost": ([("hecate:ollamaHost", f"http://{canary}.lab:11434")], canary),
        "hecate:logLevel": ([("hecate:logLevel", "debug")], None),
        "hecate:env": ([("hecate:env.HECATE_CANARY", canary)], canary),
        "hecate:resources": ([("hecate:resources.requests.cpu", "1")], None),
        "hecate:maxUnavailable": ([("hecate:maxUnavailable", "2")], None),
        "hecate:readinessProbe": ([("hecate:readinessProbe.check", "socket")], None),
        "hecate:hardened": ([("hecate:hardened", "false")], None),
        "hecate:tolerations": ([("hecate:tolerations[0].key", f"{canary}.io/gpu")], canary),
        "hecate:nodeSelector": ([("hecate:nodeSelector.pool", canary)], canary),
        "hecate:priorityClassName": ([("hecate:priorityClassName", canary)], canary),
        "hecate:imagePullSecrets": ([("hecate:imagePullSecrets[0]", canary)], canary),
        # (Not "gitops": the engine masks a secret's text wherever it appears in its output,
        # and that would mask it in the names of other settings too.)
        "hecate:delivery": ([("hecate:delivery", "direct")], None),
        "hecate:gitopsDir": ([("hecate:gitopsDir", f"./{canary}")], canary),
        "hecate:gitops": ([("hecate:gitops.branch", canary)], canary),
        "hecate:healthTimeout": ([("hecate:healthTimeout", "2m")], None),
        "hecate:sealedSecrets": ([("hecate:sealedSecrets.MISTRAL_API_KEY", sealed)], sealed[:40]),
        "hecate:sealingCert": ([("hecate:sealingCert", pem)], cert_body(pem)),
        "hecate:sealingScope": ([("hecate:sealingScope", "cluster-wide")], None),
        "hecate:patches": ([("hecate:patches[0].mergePatch.data.X", canary)], canary),
        "hecate:commitStatus": ([("hecate:commitStatus.secretRef", canary)], canary),
        "hecate:alerts": (
            [("hecate:alerts[0].type", "generic"), ("hecate:alerts[0].secretRef", canary)],
            canary,
        ),
        "kubernetes:context": ([("kubernetes:context", canary)], canary),
        "kubernetes:kubeconfig": ([("kubernetes:kubeconfig", f"/tmp/{canary}")], canary),
    }


def configure(project: Project, assignments: list[tuple[str, str]], secret: bool) -> None:
    for key, value in assignments:
        args = ["config", "set", "--stack", STACK, "--path", key]
        args.append("--secret" if secret else "--plaintext")
        project.pulumi(*args, "--", value)


def everything_written(project: Project, runs: list[str]) -> dict[str, str]:
    """Every place a value could land, by name: what to search."""
    places = {f"run {i}": text for i, text in enumerate(runs)}
    for path in sorted(project.path.rglob("*.yaml")):
        if ".venv" not in path.parts and path.name != f"Pulumi.{STACK}.yaml":
            places[str(path.relative_to(project.path))] = path.read_text()
    places["stack export"] = project.pulumi("stack", "export", "--stack", STACK, check=False).text
    places["stack output"] = project.pulumi(
        "stack", "output", "--stack", STACK, "--json", check=False
    ).text
    state = project.path.parent / "state"
    for path in sorted(state.rglob("*")):
        if path.is_file():
            places[f"backend {path.relative_to(state)}"] = path.read_bytes().decode(
                errors="replace"
            )
    for command in (["preview", "--json"], ["status", "--no-clusters", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "hecate", "fleet", *command],
            cwd=project.path,
            env={**project.env, "PYTHONPATH": str(project.path)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        places[f"fleet {command[0]}"] = done.stdout + done.stderr
    return places


def leaks(places: dict[str, str], canaries: dict[str, str]) -> list[str]:
    return [
        f"{setting}'s canary in {where}"
        for setting, canary in canaries.items()
        for where, text in places.items()
        if canary in text
    ]


def engine_runs(project: Project) -> list[str]:
    return [
        project.pulumi("preview", "--stack", STACK, "--diff", *VERBOSE, check=False).text,
        project.pulumi("up", "--stack", STACK, "--yes", *VERBOSE, check=False).text,
    ]


def test_every_setting_set_as_a_secret_is_refused_and_shows_nowhere(tmp_path):
    project = new_project(tmp_path, STACK)
    table = {spec.name for _, spec in SETTINGS}
    found = shapes(token())
    assert set(found) == table - set(TAKES_SECRETS), "give each new setting a shape in shapes()"
    canaries = {}
    for setting, (assignments, canary) in found.items():
        configure(project, assignments, secret=True)
        if canary:
            canaries[setting] = canary
    runs = engine_runs(project)
    for setting in found:
        # Refused, each by name, before anything was declared.
        assert f"{setting}: is a Pulumi secret, but the program renders it in clear" in runs[0]
    assert "nothing was declared" in runs[1]
    assert leaks(everything_written(project, runs), canaries) == []
    assert project.files() == {}
    # The stack file holds each only encrypted.
    stack_file = (project.path / f"Pulumi.{STACK}.yaml").read_text()
    assert not [s for s, c in canaries.items() if c in stack_file]


def test_the_api_keys_stay_pulumi_secrets_end_to_end(tmp_path):
    project = new_project(tmp_path, STACK)
    key = f"sk-{token()}"
    project.pulumi(
        "config", "set", "--stack", STACK, "hecate:sealingCert", "--", certs.controller()[0]
    )
    project.pulumi(
        "config",
        "set",
        "--stack",
        STACK,
        "--secret",
        "--path",
        "hecate:apiKeys.OPENAI_API_KEY",
        key,
    )
    runs = engine_runs(project)
    assert "[secret]" in runs[0]  # the preview's diff shows the key as a secret, never its value
    assert project.files(), "the stack was not rendered"
    places = everything_written(project, runs)
    assert leaks(places, {"hecate:apiKeys": key}) == []
    # In the state, the key is an input of its sealing resource, marked secret and encrypted.
    state = json.loads(places["stack export"])
    sealing = [
        r for r in state["deployment"]["resources"] if r["type"] == "pulumi-python:dynamic:Resource"
    ]
    assert len(sealing) == 1
    inputs, outputs = sealing[0]["inputs"], sealing[0]["outputs"]
    assert "plaintext" not in outputs
    for value in (inputs["plaintext"], outputs["digest"], outputs["digestKey"]):
        assert value[SIGNATURE] == SECRET and "ciphertext" in value, value


@pytest.mark.parametrize(
    "key, template",
    [
        ("hecate:gitops.url", "https://user:{canary}@github.com/hecate-social/hecate-gitops"),
        ("hecate:gitops.url", "https://{canary}@github.com/hecate-social/hecate-gitops"),
        ("hecate:ollamaHost", "http://admin:{canary}@localhost:11434"),
        ("hecate:commitStatus.address", "https://bot:{canary}@github.com/hecate-social/gitops"),
    ],
)
def test_a_credential_in_a_url_set_in_clear_is_refused_before_anything_runs(
    tmp_path, key, template
):
    project = new_project(tmp_path, STACK)
    canary = token()
    configure(project, [(key, template.format(canary=canary))], secret=False)
    runs = engine_runs(project)
    assert f"{key}: 'http" in runs[0] and "holds a credential" in runs[0], runs[0]
    places = everything_written(project, runs)
    # The stack file holds what the user typed; nothing the program or the engine wrote does.
    assert leaks(places, {key: canary}) == []
    assert project.files() == {}
