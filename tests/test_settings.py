"""Stack configuration: defaults, the contract's keys, and bad input refused whole."""

from __future__ import annotations

import dataclasses

import pytest

from hecate.grammars import parse_quantity
from hecate.settings import (
    SETTINGS,
    ComputeResources,
    ConfigError,
    ReadinessProbe,
    Settings,
    parse,
    parse_config,
)
from testbed import certs
from testbed.mocks import evaluate

SOURCE = {
    "url": "ssh://git@github.com/hecate-social/hecate-gitops",
    "branch": "main",
    "interval": "1m",
}
SEALED = "A" * 400  # the shape of a sealed value; contents are the controller's business


def minimal(**extra):
    return {"cluster": "beam-cluster", "version": "0.7.2", "gitops": SOURCE, **extra}


def test_defaults_are_the_guides():
    settings = parse(minimal())
    assert settings.image_ref == "ghcr.io/hecate-social/hecate-daemon:0.7.2"
    assert settings.ollama_host == "http://localhost:11434"
    assert settings.log_level == "info"
    assert settings.resources == ComputeResources("100m", "256Mi", "1000m", "1Gi")
    assert settings.delivery == "gitops"
    assert settings.gitops_dir == "./gitops"
    assert settings.max_unavailable == 1
    assert dict(settings.sealed_secrets) == {}
    # The guide's delay and period; Ready is the daemon's health check, not the socket's file.
    assert settings.readiness_probe == ReadinessProbe("health", 5, 10, 3, 3)


def test_settings_are_frozen():
    settings = parse(minimal())
    with pytest.raises(AttributeError):
        settings.version = "0.7.3"
    with pytest.raises(TypeError):
        settings.sealed_secrets["X"] = "y"


def test_structured_values_arrive_as_json_text_from_the_engine():
    settings = parse(
        minimal(
            resources='{"requests": {"cpu": "50m"}, "limits": {"memory": "2Gi"}}',
            gitops='{"url": "https://github.com/hecate-social/hecate-gitops", '
            '"branch": "release/1"}',
            maxUnavailable="25%",
        )
    )
    assert settings.resources == ComputeResources("50m", "256Mi", "1000m", "2Gi")
    assert settings.gitops.url.startswith("https://") and settings.gitops.branch == "release/1"
    assert settings.gitops.interval == "1m" and settings.max_unavailable == "25%"


def test_direct_delivery_needs_no_gitops_source_and_reads_the_kubernetes_context():
    settings = parse(
        {"cluster": "lab", "version": "1.0.0", "delivery": "direct"}, {"context": "lab-admin"}
    )
    assert settings.gitops is None and settings.kube_context == "lab-admin"


@pytest.mark.parametrize(
    "text, value",
    [
        ("100m", "0.1"),
        ("1", "1"),
        ("1000m", "1"),
        ("0.5", "0.5"),
        ("256Mi", str(256 * 2**20)),
        ("1Gi", str(2**30)),
        ("1G", str(10**9)),
        ("1e3", "1000"),
    ],
)
def test_quantities(text, value):
    assert parse_quantity(text) == __import__("decimal").Decimal(value)


@pytest.mark.parametrize("text", ["", "1.2.3", "10 Mi", "Gi", "-1", "1mi"])
def test_malformed_quantities(text):
    assert parse_quantity(text) is None


# Each row: config overrides on the beam stack, the key its message must name,
# and a fragment saying what is allowed. None removes the key.
BAD_INPUTS = [
    (
        {"logLevel": "verbose"},
        "hecate:logLevel",
        "'verbose' is not one of debug, info, warn, error",
    ),
    ({"version": "latest"}, "hecate:version", "mutable tag"),
    ({"version": "v0.7"}, "hecate:version", "release version"),
    ({"version": None}, "hecate:version", "required"),
    ({"cluster": None}, "hecate:cluster", "required"),
    ({"cluster": "Beam_Cluster"}, "hecate:cluster", "DNS-1123 label"),
    ({"image": "ghcr.io/hecate-social/hecate-daemon:0.7.2"}, "hecate:image", "without tag"),
    ({"ollamaHost": "localhost:11434"}, "hecate:ollamaHost", "http:// or https:// URL"),
    ({"ollamaHost": "ftp://ollama:21"}, "hecate:ollamaHost", "http:// or https:// URL"),
    (
        {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
        "hecate:resources.limits.cpu",
        "below its request",
    ),
    (
        {"resources": {"requests": {"memory": "lots"}}},
        "hecate:resources.requests.memory",
        "Kubernetes quantity",
    ),
    ({"resources": {"request": {"cpu": "1"}}}, "hecate:resources.request", "not a known field"),
    ({"resources": "big"}, "hecate:resources", "is not an object"),
    ({"delivery": "helm"}, "hecate:delivery", "is not one of gitops, direct"),
    ({"gitopsDir": "../elsewhere"}, "hecate:gitopsDir", "without '..'"),
    (
        {"gitops": {**SOURCE, "url": "git@github.com:hecate-social/hecate-gitops"}},
        "hecate:gitops.url",
        "ssh:// or https://",
    ),
    # Plain http is for a git server on this machine (the local test bed's), nowhere else.
    (
        {"gitops": {**SOURCE, "url": "http://git.example.com/hecate-gitops"}},
        "hecate:gitops.url",
        "http:// only on a loopback host",
    ),
    ({"healthTimeout": "soon"}, "hecate:healthTimeout", "Flux duration"),
    ({"gitops": {**SOURCE, "interval": "5 minutes"}}, "hecate:gitops.interval", "Flux duration"),
    ({"gitops": {**SOURCE, "branch": "feature..x"}}, "hecate:gitops.branch", "git branch name"),
    (
        {"gitops": {**SOURCE, "secretRef": "Flux_System"}},
        "hecate:gitops.secretRef",
        "DNS-1123 subdomain",
    ),
    (
        {"sealedSecrets": {"OPENAI-API-KEY": SEALED}},
        "hecate:sealedSecrets.OPENAI-API-KEY",
        "environment-variable name",
    ),
    (
        {"sealedSecrets": {"OPENAI_API_KEY": "sk-plaintext"}},
        "hecate:sealedSecrets.OPENAI_API_KEY",
        "not a kubeseal-sealed value",
    ),
    ({"maxUnavailable": "0"}, "hecate:maxUnavailable", "percentage"),
    ({"readinessProbe": {"check": "http"}}, "hecate:readinessProbe.check", "health, socket"),
    ({"readinessProbe": {"periodSeconds": 0}}, "hecate:readinessProbe.periodSeconds", "1 to 3600"),
    ({"readinessProbe": {"timeoutSeconds": "3"}}, "hecate:readinessProbe.timeoutSeconds", "number"),
    ({"readinessProbe": {"failureThreshold": True}}, "hecate:readinessProbe.failureThreshold", "1"),
    (
        {"readinessProbe": {"periodSeconds": 5, "timeoutSeconds": 10}},
        "hecate:readinessProbe.timeoutSeconds",
        "is over periodSeconds (5)",
    ),
    ({"readinessProbe": {"exec": ["true"]}}, "hecate:readinessProbe.exec", "not a known field"),
    ({"maxUnavailable": "150%"}, "hecate:maxUnavailable", "percentage"),
    ({"logLevl": "debug"}, "hecate:logLevl", "not a known setting"),
    ({"hardened": "maybe"}, "hecate:hardened", "is not true or false"),
    # A trailing newline and full-width digits once passed, rendering images Kubernetes refuses.
    ({"version": "0.7.2\n"}, "hecate:version", "release version"),
    ({"version": "\uff10.\uff17.\uff12"}, "hecate:version", "release version"),
    # Unbalanced IPv6 brackets once ended in a traceback instead of this list.
    ({"ollamaHost": "http://[::1"}, "hecate:ollamaHost", "http:// or https:// URL"),
    ({"gitops": {**SOURCE, "url": "https://[x/y"}}, "hecate:gitops.url", "ssh:// or https://"),
    # Scheduling, pull secrets and extra environment (every bad shape of each).
    ({"tolerations": {"key": "gpu"}}, "hecate:tolerations", "is not a list of tolerations"),
    ({"tolerations": ["gpu"]}, "hecate:tolerations[0]", "is not an object {key, operator"),
    (
        {"tolerations": [{"key": "gpu", "operatr": "Exists"}]},
        "hecate:tolerations[0].operatr",
        "is not a known field",
    ),
    (
        {"tolerations": [{"key": "gpu", "operator": "In"}]},
        "hecate:tolerations[0].operator",
        "is not one of Exists, Equal",
    ),
    (
        {"tolerations": [{"key": "gpu", "operator": "Exists", "value": "x"}]},
        "hecate:tolerations[0].value",
        "must be empty with operator Exists",
    ),
    (
        {"tolerations": [{"value": "x"}]},
        "hecate:tolerations[0].key",
        "is required with operator Equal",
    ),
    (
        {"tolerations": [{"key": "gpu/", "operator": "Exists"}]},
        "hecate:tolerations[0].key",
        "is not a label key",
    ),
    (
        {"tolerations": [{"key": "Bad_Prefix/gpu", "operator": "Exists"}]},
        "hecate:tolerations[0].key",
        "is not a label key",
    ),
    (
        {"tolerations": [{"key": "gpu", "value": "a b"}]},
        "hecate:tolerations[0].value",
        "is not a label value",
    ),
    (
        {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoRun"}]},
        "hecate:tolerations[0].effect",
        "is not one of NoSchedule, PreferNoSchedule, NoExecute",
    ),
    (
        {
            "tolerations": [
                {
                    "key": "gpu",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                    "tolerationSeconds": 60,
                }
            ]
        },
        "hecate:tolerations[0].tolerationSeconds",
        "only with effect NoExecute",
    ),
    (
        {
            "tolerations": [
                {"key": "gpu", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": -1}
            ]
        },
        "hecate:tolerations[0].tolerationSeconds",
        "a whole number of seconds",
    ),
    (
        {
            "tolerations": [
                {
                    "key": "gpu",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": "5m",
                }
            ]
        },
        "hecate:tolerations[0].tolerationSeconds",
        "a whole number of seconds",
    ),
    ({"nodeSelector": ["gpu"]}, "hecate:nodeSelector", "is not an object mapping node label keys"),
    ({"nodeSelector": {"-gpu": "true"}}, "hecate:nodeSelector.-gpu", "is not a label key"),
    ({"nodeSelector": {"x" * 64: "true"}}, "hecate:nodeSelector." + "x" * 64, "is not a label key"),
    (
        {"nodeSelector": {"gpu": ["a"]}},
        "hecate:nodeSelector.gpu",
        "is not a label value (a string)",
    ),
    ({"nodeSelector": {"gpu": "yes please"}}, "hecate:nodeSelector.gpu", "is not a label value"),
    ({"nodeSelector": {"gpu": "v" * 64}}, "hecate:nodeSelector.gpu", "is not a label value"),
    (
        {"priorityClassName": "System_Node_Critical"},
        "hecate:priorityClassName",
        "DNS-1123 subdomain",
    ),
    ({"priorityClassName": "a" * 254}, "hecate:priorityClassName", "DNS-1123 subdomain"),
    ({"imagePullSecrets": "ghcr-pull"}, "hecate:imagePullSecrets", "is not a list of Secret names"),
    ({"imagePullSecrets": ["Ghcr_Pull"]}, "hecate:imagePullSecrets[0]", "is not a Secret name"),
    ({"imagePullSecrets": ["ghcr", "ghcr"]}, "hecate:imagePullSecrets[1]", "is listed twice"),
    ({"env": ["A=1"]}, "hecate:env", "is not an object mapping environment-variable names"),
    ({"env": {"HECATE-MODEL": "x"}}, "hecate:env.HECATE-MODEL", "environment-variable name"),
    (
        {"env": {"HECATE_LOG_LEVEL": "debug"}},
        "hecate:env.HECATE_LOG_LEVEL",
        "is set by hecate:logLevel",
    ),
    ({"env": {"OLLAMA_HOST": "http://x"}}, "hecate:env.OLLAMA_HOST", "is set by hecate:ollamaHost"),
    (
        {"env": {"THREADS": {"n": 4}}},
        "hecate:env.THREADS",
        "is not a string, a number or a boolean",
    ),
    (
        {"env": {"OPENAI_API_KEY": "x"}, "sealedSecrets": {"OPENAI_API_KEY": SEALED}},
        "hecate:env.OPENAI_API_KEY",
        "is also a sealed key's name",
    ),
    ({"patches": {"target": {}}}, "hecate:patches", "is not a list of patches"),
    # A typo in the provider's keys must never let the kubeconfig's current context choose.
    (
        {"kubernetes:contxt": "dir-cluster", "delivery": "direct"},
        "kubernetes:contxt",
        "not a known setting",
    ),
]


@pytest.mark.parametrize(
    "overrides, key, allowed", BAD_INPUTS, ids=[row[1] + "=" + str(row[0]) for row in BAD_INPUTS]
)
def test_bad_input_is_refused_before_anything_is_declared(overrides, key, allowed):
    evaluation = evaluate(
        "beam",
        {k: v for k, v in overrides.items() if v is not None},
        remove=[k for k, v in overrides.items() if v is None],
    )
    assert isinstance(evaluation.error, Exception), f"{overrides} was accepted"
    message = str(evaluation.error)
    assert f"{key}:" in message and allowed in message, message
    assert "Traceback" not in message
    assert evaluation.resources == [], "a resource was declared despite bad configuration"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9418/hecate-gitops", "http://[::1]:80/hecate-gitops", "http://localhost/x"],
)
def test_plain_http_is_accepted_for_a_loopback_git_server(url):
    assert parse(minimal(gitops={**SOURCE, "url": url})).gitops.url == url


def test_a_gitops_source_is_required_for_gitops_delivery():
    """Pulumi.yaml gives every stack one; a project without it must say so."""
    with pytest.raises(ConfigError, match="hecate:gitops: is required for gitops delivery"):
        parse({"cluster": "beam-cluster", "version": "0.7.2"})
    assert parse({"cluster": "lab", "version": "1.0.0", "delivery": "direct"}).gitops is None


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        parse(
            {
                "cluster": "Beam",
                "version": "latest",
                "logLevel": "loud",
                "typo": 1,
                "gitops": SOURCE,
            }
        )
    keys = [p.split(":")[1] for p in caught.value.problems]
    assert keys == ["typo", "cluster", "version", "logLevel"], caught.value.problems


def test_problems_of_the_new_settings_come_together_with_the_others():
    with pytest.raises(ConfigError) as caught:
        parse(
            minimal(
                logLevel="loud",
                env={"HECATE_LOG_LEVEL": "x"},
                tolerations=[{"key": "gpu", "operator": "Maybe"}],
                nodeSelector={"gpu": "a b"},
                priorityClassName="Critical",
                imagePullSecrets=["Pull"],
            )
        )
    keys = [p.split(":", 2)[1] for p in caught.value.problems]
    assert keys == [
        "logLevel",
        "env.HECATE_LOG_LEVEL",
        "tolerations[0].operator",
        "nodeSelector.gpu",
        "priorityClassName",
        "imagePullSecrets[0]",
    ], caught.value.problems


# A value of the right shape for each setting, to set as a secret: every setting but the API
# keys is rendered in clear, so each must refuse to be one. A setting added to the table without
# a row here fails this test until it has one.
SHAPES = {
    "cluster": "beam-cluster",
    "version": "0.7.2",
    "image": "ghcr.io/hecate-social/hecate-daemon",
    "ollamaHost": "http://localhost:11434",
    "logLevel": "info",
    "env": {"HECATE_MODEL": "llama3"},
    "resources": {"requests": {"cpu": "1"}},
    "maxUnavailable": 1,
    "readinessProbe": {"check": "socket"},
    "hardened": True,
    "tolerations": [{"operator": "Exists"}],
    "nodeSelector": {"pool": "gpu"},
    "priorityClassName": "system-node-critical",
    "imagePullSecrets": ["ghcr-pull"],
    "delivery": "gitops",
    "gitopsDir": "./gitops",
    "gitops": SOURCE,
    "healthTimeout": "2m",
    "sealedSecrets": {"OPENAI_API_KEY": SEALED},
    "sealingCert": "",
    "sealingScope": "strict",
    "patches": [],
    "commitStatus": {"secretRef": "github-token"},
    "alerts": [{"type": "slack", "secretRef": "slack-webhook"}],
    "kubernetes:context": "beam-cluster",
    "kubernetes:kubeconfig": "/home/someone/.kube/config",
}


def test_every_setting_but_the_api_keys_refuses_to_be_a_secret():
    names = {spec.name for _, spec in SETTINGS}
    shaped = {(k if ":" in k else f"hecate:{k}") for k in SHAPES}
    assert names - {"hecate:apiKeys"} == shaped, "give each setting a shape in SHAPES"
    for key, value in SHAPES.items():
        name = key if ":" in key else f"hecate:{key}"
        config = {**{f"hecate:{k}": v for k, v in minimal().items()}, name: value}
        with pytest.raises(ConfigError) as caught:
            parse_config(config, frozenset({name}))
        assert any(
            p.startswith(f"{name}: is a Pulumi secret, but the program renders it in clear")
            and "only hecate:apiKeys takes secrets" in p
            for p in caught.value.problems
        ), caught.value.problems
    # The one that takes them.
    cert = certs.controller()[0]
    config = {
        **{f"hecate:{k}": v for k, v in minimal().items()},
        "hecate:apiKeys": {"OPENAI_API_KEY": "sk-1"},
        "hecate:sealingCert": cert,
    }
    assert parse_config(config, frozenset({"hecate:apiKeys"})).api_keys


@pytest.mark.parametrize(
    "overrides, key, where",
    [
        (
            {"gitops": {**SOURCE, "url": "https://user:ghp_s3cr3tT0ken@github.com/org/repo.git"}},
            "hecate:gitops.url",
            "hecate:gitops.secretRef",
        ),
        (
            {"gitops": {**SOURCE, "url": "https://ghp_s3cr3tT0ken@github.com/org/repo.git"}},
            "hecate:gitops.url",
            "hecate:gitops.secretRef",
        ),
        (
            {"gitops": {**SOURCE, "url": "ssh://git:ghp_s3cr3tT0ken@github.com/org/repo"}},
            "hecate:gitops.url",
            "hecate:gitops.secretRef",
        ),
        (
            {"ollamaHost": "http://admin:ghp_s3cr3tT0ken@localhost:11434"},
            "hecate:ollamaHost",
            "hecate:apiKeys",
        ),
        (
            {"ollamaHost": "https://ghp_s3cr3tT0ken@ollama.lab"},
            "hecate:ollamaHost",
            "hecate:apiKeys",
        ),
    ],
)
def test_a_credential_in_a_url_is_refused_never_shown(overrides, key, where):
    with pytest.raises(ConfigError) as caught:
        parse(minimal(**overrides))
    (problem,) = caught.value.problems
    assert problem.startswith(f"{key}: ") and "holds a credential" in problem, problem
    assert where in problem and "***@" in problem
    assert "s3cr3t" not in problem and "ghp_" not in problem


def test_typed_values_of_text_settings_read_as_pulumi_stores_them():
    """`pulumi config set --path` stores `true`, `4` and `300` typed: taken as their text."""
    settings = parse(
        minimal(
            nodeSelector={"gpu": True},
            env={"THREADS": 4, "VERBOSE": False},
            tolerations=[
                {
                    "key": "k",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": "300",
                }
            ],
        )
    )
    assert dict(settings.node_selector) == {"gpu": "true"}
    assert dict(settings.env) == {"THREADS": "4", "VERBOSE": "false"}
    assert settings.tolerations[0].toleration_seconds == 300


def test_ssh_keeps_its_user():
    assert parse(minimal()).gitops.url == "ssh://git@github.com/hecate-social/hecate-gitops"


def test_sealed_values_are_not_echoed_in_messages():
    plaintext = "sk-this-must-not-be-printed"
    with pytest.raises(ConfigError) as caught:
        parse(minimal(sealedSecrets={"OPENAI_API_KEY": plaintext}))
    assert plaintext not in str(caught.value)


def test_api_keys_parse_into_secrets_that_never_show():
    pem, _ = certs.controller()
    settings = parse(
        minimal(apiKeys='{"OPENAI_API_KEY": "sk-canary"}', sealingCert=pem),
        secret_keys=frozenset({"apiKeys"}),
    )
    assert settings.api_keys["OPENAI_API_KEY"].reveal() == "sk-canary"
    assert "sk-canary" not in repr(settings)
    assert settings.sealing_scope == "strict" and settings.sealing_cert == pem


SEALING_BAD_INPUTS = [
    ({"sealingCert": "not PEM"}, "hecate:sealingCert", "is not a PEM certificate"),
    ({"sealingCert": "EC key"}, "hecate:sealingCert", "does not hold an RSA public key"),
    ({"sealingCert": "expired"}, "hecate:sealingCert", "expired on"),
    ({"sealingCert": "1024-bit"}, "hecate:sealingCert", "at least 2048 bits"),
    (
        {"apiKeys": {"OPENAI_API_KEY": "sk-canary-x"}, "sealingCert": None},
        "hecate:apiKeys",
        "kubeseal --fetch-cert",
    ),
    (
        {"apiKeys": {"openai-key": "sk-canary-x"}},
        "hecate:apiKeys.openai-key",
        "environment-variable name",
    ),
    (
        {"apiKeys": {"OPENAI_API_KEY": "sk-canary-x"}, "sealedSecrets": {"OPENAI_API_KEY": SEALED}},
        "hecate:apiKeys.OPENAI_API_KEY",
        "also in hecate:sealedSecrets",
    ),
    ({"sealingScope": "global"}, "hecate:sealingScope", "strict, namespace-wide, cluster-wide"),
]


@pytest.mark.parametrize(
    "overrides, key, allowed",
    SEALING_BAD_INPUTS,
    ids=[r[1] + ":" + r[2] for r in SEALING_BAD_INPUTS],
)
def test_bad_sealing_input_is_refused_before_anything_is_declared(overrides, key, allowed):
    config = {"sealingCert": certs.controller()[0], **overrides}
    if config["sealingCert"] in certs.bad_certificates():
        config["sealingCert"] = certs.bad_certificates()[config["sealingCert"]]
    evaluation = evaluate(
        "beam",
        {k: v for k, v in config.items() if v is not None},
        remove=[k for k, v in config.items() if v is None],
        secrets=["apiKeys"] if "apiKeys" in config else [],
    )
    message = str(evaluation.error)
    assert f"{key}:" in message and allowed in message, message
    assert "sk-canary-x" not in message
    assert evaluation.resources == []


def test_api_keys_in_plain_text_config_are_refused():
    evaluation = evaluate(
        "beam", {"apiKeys": {"OPENAI_API_KEY": "sk-canary-x"}, "sealingCert": certs.controller()[0]}
    )
    assert "hecate:apiKeys: is stored in plain text" in str(evaluation.error)
    assert "sk-canary-x" not in str(evaluation.error) and evaluation.resources == []


# --- One table: Settings is built from the declarations alone ---------------------------------


def test_every_field_of_settings_is_a_declared_setting():
    """Settings(**values) is built from the table alone: a parsed key cannot be left out of it."""
    assert [f.name for f in dataclasses.fields(Settings)] == [
        attribute for attribute, _ in SETTINGS
    ]
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Settings))


def test_no_part_of_a_secret_put_in_the_wrong_key_is_shown():
    secret = "sk-live-0123456789abcdefghij"
    evaluation = evaluate(
        "beam",
        {"sealedSecrets": {"OPENAI_API_KEY": secret}, "logLevel": secret},
        secrets=["sealedSecrets", "logLevel"],
    )
    message = str(evaluation.error)
    assert "hecate:sealedSecrets.OPENAI_API_KEY: is not a kubeseal-sealed value" in message
    assert "hecate:logLevel: (a secret value) is not one of" in message
    assert not any(secret[i : i + 6] in message for i in range(len(secret) - 5)), message


def test_an_oversized_api_key_is_refused_with_its_size():
    evaluation = evaluate(
        "beam",
        {"apiKeys": {"OPENAI_API_KEY": "k" * 2**20}, "sealingCert": certs.controller()[0]},
        secrets=["apiKeys"],
    )
    assert "hecate:apiKeys.OPENAI_API_KEY: is 1048576 bytes; an API key is at most 16384" in str(
        evaluation.error
    )
    assert evaluation.resources == []


def refusal(call) -> str:
    with pytest.raises(ConfigError) as caught:
        call()
    return str(caught.value)


def test_a_key_that_would_not_read_back_is_named_escaped_and_a_secret_stays_hidden():
    error = refusal(lambda: parse(minimal(env={"A\nB": "x", " PAD": "y"})))
    assert "hecate:env['A\\nB']: is not a valid environment-variable name" in error
    assert "hecate:env[' PAD']: is not a valid environment-variable name" in error
    secret = "sk-live-0123456789abcdefghij"
    error = refusal(
        lambda: parse(minimal(sealedSecrets={"BAD\nNAME": secret}), secret_keys={"sealedSecrets"})
    )
    assert "hecate:sealedSecrets['BAD\\nNAME']" in error and secret not in error
