"""Hecate on one Kubernetes cluster: the stack's settings in, one component out."""

import os

import pulumi

from hecate import naming
from hecate.cluster import ClusterObjects, HecateCluster
from hecate.gitops_tree import open_tree
from hecate.project import running_settings
from hecate.settings import ConfigError

try:
    settings = running_settings()
    # The gitops tree is checked (where it is, who owns its cluster directories) first.
    tree = (
        open_tree(settings, pulumi.get_stack(), os.getcwd())
        if settings.delivery == "gitops"
        else None
    )
    # Every object built and patched before any resource: a patch that does not apply is a
    # configuration error, never half a stack.
    objects = ClusterObjects.of(settings)
except ConfigError as error:
    # A clean message, not a traceback, and before any resource is declared.
    raise pulumi.RunError(str(error)) from None

cluster = HecateCluster(settings.cluster, settings, objects, tree)

pulumi.export("cluster", settings.cluster)
pulumi.export("delivery", settings.delivery)
pulumi.export("image", settings.image_ref)
pulumi.export("namespace", naming.NAMESPACE)
pulumi.export("renderedDirs", cluster.rendered_dirs)
pulumi.export("settingsDigest", cluster.settings_digest)
pulumi.export("healthCheck", naming.health_check_command(settings.kube_context or settings.cluster))
