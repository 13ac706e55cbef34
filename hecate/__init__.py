"""Hecate's deployment as a Pulumi program: one component per concern, one stack per cluster."""
