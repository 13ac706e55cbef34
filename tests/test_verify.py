"""`python -m hecate verify`: each sealed value checked against the stack's certificate, scope."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from hecate import sealing, verify
from hecate.project import pulumi_env, settings_from
from hecate.sealed_value import SealingProvider
from testbed import certs
from testbed.mocks import ROOT

LABELS = {scope: sealing.label(scope, "hecate", "hecate-secrets") for scope in sealing.SCOPES}


def seal(value: str, index: int = 0, scope: str = "strict", bits: int = 2048) -> str:
    pem, _ = certs.controller(index, bits)
    return sealing.seal(sealing.load_certificate(pem).public_key(), value.encode(), LABELS[scope])


def state_for(key: str, index: int = 0, scope: str = "strict") -> dict:
    """An exported state holding one program-sealed value, as the dynamic provider records it."""
    outputs = (
        SealingProvider()
        .create(
            {
                "plaintext": "sk-x",
                "certificate": certs.controller(index)[0],
                "scope": scope,
                "namespace": "hecate",
                "name": "hecate-secrets",
            }
        )
        .outs
    )
    urn = (
        "urn:pulumi:beam::hecate::hecate:index:Cluster$hecate:index:SealedSecrets"
        f"$pulumi-python:dynamic:Resource::{key}"
    )
    return {
        "deployment": {
            "resources": [
                {"urn": urn, "type": "pulumi-python:dynamic:Resource", "outputs": outputs}
            ]
        }
    }


def config(scope: str = "strict", **extra):
    """A stack's settings, parsed the one way from its stack files' config."""
    return settings_from(
        {
            "hecate:cluster": "lab",
            "hecate:version": "0.7.2",
            "hecate:sealingCert": certs.controller(0)[0],
            "hecate:sealingScope": scope,
            **extra,
        },
        ROOT,
    )


def statuses(verdicts):
    return {v.key: (v.source, v.status) for v in verdicts}


def test_kubeseal_values_need_the_private_key_to_be_verified():
    cfg = config(
        **{
            "hecate:sealedSecrets": {
                "GOOD": seal("a"),
                "OTHER_SCOPE": seal("b", scope="cluster-wide"),
                "OTHER_CLUSTER": seal("c", index=1),
            }
        }
    )
    assert statuses(verify.verify(cfg)) == {
        "GOOD": ("kubeseal", "unverified"),
        "OTHER_SCOPE": ("kubeseal", "unverified"),
        "OTHER_CLUSTER": ("kubeseal", "unverified"),
    }
    verdicts = verify.verify(cfg, private_key=certs.controller(0)[1])
    assert statuses(verdicts) == {
        "GOOD": ("kubeseal", "ok"),
        "OTHER_SCOPE": ("kubeseal", "MISMATCH"),
        "OTHER_CLUSTER": ("kubeseal", "MISMATCH"),
    }
    details = {v.key: v.detail for v in verdicts}
    assert (
        "sealed for scope cluster-wide, but the stack's scope is strict" in details["OTHER_SCOPE"]
    )
    assert "another cluster" in details["OTHER_CLUSTER"]


def test_a_value_for_another_key_size_is_a_mismatch_without_the_private_key():
    cfg = config(**{"hecate:sealedSecrets": {"BIG": seal("a", index=2, bits=3072)}})
    assert statuses(verify.verify(cfg)) == {"BIG": ("kubeseal", "MISMATCH")}


def test_program_sealed_values_are_verified_from_the_state():
    api_keys = {"hecate:apiKeys": {"OPENAI_API_KEY": {"secure": "v1:..."}}}
    assert statuses(verify.verify(config(**api_keys), state_for("OPENAI_API_KEY"))) == {
        "OPENAI_API_KEY": ("program", "ok")
    }
    assert statuses(verify.verify(config(**api_keys), state_for("OPENAI_API_KEY", index=1))) == {
        "OPENAI_API_KEY": ("program", "MISMATCH")
    }
    assert statuses(
        verify.verify(config("namespace-wide", **api_keys), state_for("OPENAI_API_KEY"))
    ) == {"OPENAI_API_KEY": ("program", "MISMATCH")}
    assert statuses(verify.verify(config(**api_keys), None)) == {
        "OPENAI_API_KEY": ("program", "not-sealed")
    }
    assert statuses(
        verify.verify(config(**api_keys), state_for("OPENAI_API_KEY"), certs.controller(0)[1])
    ) == {"OPENAI_API_KEY": ("program", "ok")}


def test_a_private_key_of_another_cluster_is_refused():
    with pytest.raises(ValueError, match="does not belong"):
        verify.verify(config(), private_key=certs.controller(1)[1])


def test_command_line(tmp_path, capsys):
    lab(
        tmp_path,
        **{"hecate:sealedSecrets": {"GOOD": seal("a"), "OTHER_CLUSTER": seal("b", index=1)}},
    )
    key_file = tmp_path / "controller.key"
    key_file.write_text(certs.private_pem(certs.controller(0)[1]))

    assert verify.main(["--stack", "lab", "--root", str(tmp_path)]) == 0
    assert "unverified" in capsys.readouterr().out
    assert (
        verify.main(["--stack", "lab", "--root", str(tmp_path), "--private-key", str(key_file)])
        == 1
    )
    out = capsys.readouterr().out
    assert "GOOD" in out and "MISMATCH" in out
    assert verify.main(["--stack", "nosuch", "--root", str(tmp_path)]) == 2
    assert "no stack file Pulumi.nosuch.yaml" in capsys.readouterr().err


def lab(tmp_path, **config) -> Path:
    tmp_path.mkdir(exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack = {
        "config": {
            "hecate:cluster": "lab",
            "hecate:version": "0.7.2",
            "hecate:sealingCert": certs.controller(0)[0],
            **config,
        }
    }
    (tmp_path / "Pulumi.lab.yaml").write_text(yaml.safe_dump(stack))
    return tmp_path


def test_settings_are_parsed_the_one_way(tmp_path, capsys):
    """An unknown scope was once read as strict; now it is the program's own refusal, exit 2."""
    root = lab(
        tmp_path, **{"hecate:sealingScope": "global", "hecate:sealedSecrets": {"GOOD": seal("a")}}
    )
    assert verify.main(["--stack", "lab", "--root", str(root)]) == 2
    assert (
        "hecate:sealingScope: 'global' is not one of strict, namespace-wide, cluster-wide"
        in capsys.readouterr().err
    )


def test_what_cannot_be_checked_exits_2_never_1_or_0(tmp_path, capsys, monkeypatch):
    root = lab(tmp_path, **{"hecate:sealedSecrets": {"GOOD": seal("a")}})
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        certs.controller(0)[1].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"throwaway"),
        )
    )
    assert (
        verify.main(["--stack", "lab", "--root", str(root), "--private-key", str(encrypted)]) == 2
    )
    assert "is encrypted" in capsys.readouterr().err

    (root / "Pulumi.broken.yaml").write_text("config:\n  hecate:cluster: [unclosed\n")
    assert verify.main(["--stack", "broken", "--root", str(root)]) == 2
    assert "not valid YAML" in capsys.readouterr().err

    # A program-sealed key whose state cannot be read: not "not sealed yet" and exit 0, but 2.
    root = lab(tmp_path / "keys", **{"hecate:apiKeys": {"OPENAI_API_KEY": {"secure": "v1:abc"}}})
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path}/no-such-state")
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi either
    assert verify.main(["--stack", "lab", "--root", str(root)]) == 2
    assert "verify:" in capsys.readouterr().err


def test_the_state_is_read_as_make_up_configures_it(tmp_path, monkeypatch):
    for variable in (
        "PULUMI_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE",
        "PULUMI_CONFIG_PASSPHRASE_FILE",
    ):
        monkeypatch.delenv(variable, raising=False)
    env = pulumi_env(tmp_path)
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path.resolve()}/.pulumi-state"
    makefile = (ROOT / "Makefile").read_text()
    assert f"PULUMI_CONFIG_PASSPHRASE ?= {env['PULUMI_CONFIG_PASSPHRASE']}" in makefile
    assert "LOCAL_BACKEND := file://$(CURDIR)/.pulumi-state" in makefile
    # A shared backend never gets the local passphrase.
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://team-state")
    assert "PULUMI_CONFIG_PASSPHRASE" not in pulumi_env(tmp_path)
