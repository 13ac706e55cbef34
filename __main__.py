"""Hecate on one Kubernetes cluster: the stack's settings in, one component out."""

import pulumi

from hecate import naming
from hecate.cluster import HecateCluster
from hecate.settings import ConfigError, load

try:
    settings = load()
except ConfigError as error:
    # A clean message, not a traceback, and before any resource is declared.
    raise pulumi.RunError(str(error)) from None

cluster = HecateCluster(settings.cluster, settings)

pulumi.export("cluster", settings.cluster)
pulumi.export("delivery", settings.delivery)
pulumi.export("image", settings.image_ref)
pulumi.export("namespace", cluster.namespace.metadata["name"])
pulumi.export("renderedDirs", cluster.rendered_dirs)
pulumi.export("healthCheck", naming.health_check_command(settings.kube_context or settings.cluster))
