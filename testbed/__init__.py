"""What the tests, the benches and `make fleet-up` stand on; hecate/ never imports it.

The local fleet of real clusters (`python -m testbed up|down|status`, `make fleet-up`):
    local_fleet  bringing the local fleet up and down (Bringup)
    fleet        a fleet that is up: its clusters, reads, and faults on purpose (Fleet)
    components   each cluster's components and their configuration (kwokctl, Flux, sealed-secrets)
    processes    starting the fleet's processes and stopping them by their pids alone
    faults       the faults tests inject (kwok Stages: unready, missing image, crash loop)
    admission    a webhook that holds admission, for the tests of `direct` delivery
    flux         asking Flux to reconcile and reading what it did
    git_server   the one git server all clusters sync from
    watchdog     takes a test run's fleet down when the run dies

The project beside the fleet:
    scratch      scratch copies of the project under the real Pulumi engine
    deployment   one stack deployed to its cluster as a person does it (up, commit, push)
    rollout_project  a copy of the whole project pointed at the fleet, for `hecate fleet`
    mocks        the program evaluated under Pulumi's mocks (the unit tests, `make bench`)
    paths        where the project is, and what the install scripts cached
"""
