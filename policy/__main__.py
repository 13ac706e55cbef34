"""The hecate policy pack: run with every preview (`pulumi preview --policy-pack policy`)."""

import rules
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY


def on_props(rule):
    def validate(args, report_violation):
        for message in rule(rules.object_type(args.resource_type), args.props):
            report_violation(message)

    return validate


def no_plaintext_secret(args, report_violation):
    for message in rules.plaintext_secret(args.resource_type):
        report_violation(message)


def on_stack(rule):
    def validate(args, report_violation):
        for message in rule((rules.object_type(r.resource_type), r.props) for r in args.resources):
            report_violation(message)

    return validate


PolicyPack(
    name="hecate",
    enforcement_level=MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="pinned-images",
            description="Images are pinned to a version tag or a digest.",
            validate=on_props(rules.pinned_images),
        ),
        ResourceValidationPolicy(
            name="resources-and-probes",
            description="Containers have cpu and memory requests and limits, and both probes.",
            validate=on_props(rules.resources_and_probes),
        ),
        ResourceValidationPolicy(
            name="host-access",
            description="hostPath only /run/hecate and /var/lib/hecate; hostNetwork only on "
            "the hecate daemon.",
            validate=on_props(rules.host_access),
        ),
        ResourceValidationPolicy(
            name="no-plaintext-secrets",
            description="No core/v1 Secret in gitops delivery: secrets go through SealedSecret.",
            validate=no_plaintext_secret,
        ),
        ResourceValidationPolicy(
            name="git-source",
            description="The GitRepository URL is ssh or https.",
            validate=on_props(rules.git_source),
        ),
        ResourceValidationPolicy(
            name="flux-kustomization",
            description="The Kustomization prunes and health-checks the daemon.",
            validate=on_props(rules.kustomization),
        ),
        StackValidationPolicy(
            name="flux-source-declared",
            description="The Kustomization's sourceRef is declared by the same stack.",
            validate=on_stack(rules.source_declared),
        ),
        ResourceValidationPolicy(
            name="notification-provider",
            description="A Provider's address holds no credential and is https; chat webhooks "
            "and forge tokens come from its Secret.",
            validate=on_props(rules.notification_provider),
        ),
        StackValidationPolicy(
            name="alert-provider-declared",
            description="An Alert's providerRef is a Provider the same stack declares.",
            validate=on_stack(rules.alert_provider_declared),
        ),
        ResourceValidationPolicy(
            name="hardened-containers",
            enforcement_level=ADVISORY,
            description="No privilege escalation, no capabilities, RuntimeDefault seccomp, "
            "read-only root with an emptyDir /tmp.",
            validate=on_props(rules.hardened_containers),
        ),
    ],
)
