# The two commands: `make up STACK=beam` (run it) and `make test` (test it).
# Everything below works from a fresh clone: the virtualenvs and the engine are
# created on first use, the state lives in .pulumi-state/ (gitignored).

STACK ?= beam
PYTHON ?= python3
HECATE_CACHE ?= $(HOME)/.cache/hecate
PYTEST_ARGS ?=

export HECATE_CACHE
export PATH := $(HECATE_CACHE)/bin:$(PATH)
export PULUMI_HOME ?= $(HECATE_CACHE)/pulumi-home
# The local default backend, and its passphrase: for this backend only, never a shared one
# (docs/operations.md: "A shared backend"). hecate/project.py's pulumi_env() gives the tools the
# same environment; `make pulumi-env` prints this one, and a test keeps the two in step.
LOCAL_BACKEND := file://$(CURDIR)/.pulumi-state
export PULUMI_BACKEND_URL ?= $(LOCAL_BACKEND)
ifeq ($(PULUMI_BACKEND_URL),$(LOCAL_BACKEND))
ifeq ($(PULUMI_CONFIG_PASSPHRASE_FILE),)
export PULUMI_CONFIG_PASSPHRASE ?= hecate-local-state
endif
endif
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING := true

VENV := .venv
POLICY_VENV := policy/.venv
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/.installed-$(CHECKOV_VERSION)
# The engine is ready once install-pulumi ran to the end for exactly these inputs.
ENGINE_INPUTS := scripts/install-pulumi scripts/go-modules.sh requirements.txt $(wildcard engine/*/*)
ENGINE := $(HECATE_CACHE)/stamps/engine-$(shell cat $(ENGINE_INPUTS) | sha256sum | cut -c1-16)
CRDS := $(HECATE_CACHE)/stamps/crds-$(shell cat scripts/install-pulumi | sha256sum | cut -c1-16)
# Only `direct` delivery (and the tests of it) needs the kubernetes provider: built on first use.
KUBERNETES_PROVIDER := $(HECATE_CACHE)/stamps/kubernetes-provider-$(shell cat scripts/install-pulumi scripts/go-modules.sh requirements.txt | sha256sum | cut -c1-16)
# The local fleet's components (scripts/install-testbed), and the fleet `make fleet-up` starts.
TESTBED := $(HECATE_CACHE)/stamps/testbed-$(shell cat scripts/install-testbed scripts/go-modules.sh | sha256sum | cut -c1-16)
FLEET_DIR ?= .fleet
NODES ?= 3

.PHONY: bench-first-up bench-scale env pulumi-env generate up preview destroy stack stack-settings engine kubernetes-provider testbed fleet-up fleet-down venv tools test unit lint bench bench-fleet bench-rollout

# A shell set up as make sets itself up: `eval "$(make -s env)"` puts the engine and the
# `hecate` command on PATH and gives pulumi this project's backend (docs/getting-started.md).
env:
	@printf 'export PATH=%s:%s:"$$PATH"\n' "$(HECATE_CACHE)/bin" "$(CURDIR)/$(VENV)/bin"
	@env | grep -E '^(PULUMI_[A-Z_]+|HECATE_CACHE)=' | sort | sed "s/'/'\\\\''/g; s/=/='/; s/^/export /; s/$$/'/"

# What pulumi runs with under make, one NAME=value a line (tests/test_makefile.py).
pulumi-env:
	@env | grep -E '^(PULUMI_[A-Z_]+|HECATE_CACHE)=' | sort

# Pulumi.yaml's config block and docs/settings.md's table, from hecate/settings/table.py's Settings.
generate: $(VENV)/.installed
	$(VENV)/bin/python -m hecate.reference
	$(VENV)/bin/python -m hecate.fleet.workflow

# Every preview, including the one `up` starts with, runs the policy pack.
up: stack
	pulumi up --stack $(STACK) --yes --policy-pack policy

preview: stack
	pulumi preview --stack $(STACK) --policy-pack policy

destroy: stack
	pulumi destroy --stack $(STACK) --yes

STACKS := $(patsubst Pulumi.%.yaml,%,$(wildcard Pulumi.*.yaml))

# Checked before anything is installed or run: a typo must not create a new, empty stack, and
# shared state must not be encrypted with the passphrase printed in the README.
stack-settings:
	@if [ ! -f "Pulumi.$(STACK).yaml" ]; then \
	  echo "make: no stack file Pulumi.$(STACK).yaml for STACK=$(STACK); known stacks: $(STACKS)" >&2; exit 2; fi
	@if [ "$$PULUMI_BACKEND_URL" != "$(LOCAL_BACKEND)" ] && [ -z "$$PULUMI_CONFIG_PASSPHRASE" ] && \
	    [ -z "$$PULUMI_CONFIG_PASSPHRASE_FILE" ] && [ "$${PULUMI_BACKEND_URL#https://api.pulumi.com}" = "$$PULUMI_BACKEND_URL" ]; then \
	  echo "make: PULUMI_BACKEND_URL is $$PULUMI_BACKEND_URL, a shared backend: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) for its stacks; the local default passphrase is only for .pulumi-state" >&2; exit 2; fi

stack: stack-settings $(VENV)/.installed $(ENGINE) $(POLICY_VENV)/.installed
	@mkdir -p .pulumi-state
	@if [ "$$($(VENV)/bin/python -m hecate.project delivery $(STACK) 2>/dev/null)" = direct ]; then \
	  $(MAKE) --no-print-directory kubernetes-provider; fi
	@pulumi stack select $(STACK) 2>/dev/null || pulumi stack init $(STACK) --secrets-provider passphrase

# What running the project needs (requirements.txt); the tests and linters are added to the same
# virtualenv by the targets that use them (requirements-dev.txt), so that a first `make up` and a
# workflow's `make venv` install no test tool.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@# The project itself, editable, for its `hecate` command (its dependencies are the pins above).
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

DEV_VENV := $(VENV)/.dev-installed
$(DEV_VENV): $(VENV)/.installed requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The policy pack and checkov each get a virtualenv of their own: their pins clash with the program's.
$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	@touch $@

$(CHECKOV):
	rm -rf .tools/checkov
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

tools: $(POLICY_VENV)/.installed $(CHECKOV)

# `make engine` always runs the (idempotent) install script; the other targets run it only
# when its inputs changed.
engine:
	bash scripts/install-pulumi
	@mkdir -p $(dir $(ENGINE)) && touch $(ENGINE)
$(ENGINE):
	bash scripts/install-pulumi
	@mkdir -p $(dir $@) && touch $@
kubernetes-provider: $(KUBERNETES_PROVIDER)
$(KUBERNETES_PROVIDER):
	bash scripts/install-pulumi --only kubernetes-provider
	@mkdir -p $(dir $@) && touch $@
$(CRDS):
	bash scripts/install-pulumi --only crds
	@mkdir -p $(dir $@) && touch $@
testbed:
	bash scripts/install-testbed
	@mkdir -p $(dir $(TESTBED)) && touch $(TESTBED)
$(TESTBED):
	bash scripts/install-testbed
	@mkdir -p $(dir $@) && touch $@

# Three clusters (dev, edge, beam) on this machine; `source .fleet/env` to use them.
# CLUSTERS=10 NODES=50: ten clusters fleet-1..fleet-10, with generated stacks in .fleet/project.
fleet-up: $(VENV)/.installed $(TESTBED) $(ENGINE) $(POLICY_VENV)/.installed
	$(VENV)/bin/python -m testbed up --workdir $(FLEET_DIR) --nodes $(NODES) $(if $(CLUSTERS),--count $(CLUSTERS))

fleet-down: $(VENV)/.installed
	$(VENV)/bin/python -m testbed down --workdir $(FLEET_DIR)

# Style first: a violation fails `make test`, and so CI. The suite in two runs: every module that
# needs no cluster on every core (pytest-xdist, a module whole on one worker), then the fleet tier
# on FLEET_WORKERS fleets, one per worker, each running a group of modules one test after another
# (tests/local_fleet/conftest.py's FLEET_GROUPS; beside the engine tier, on two cores, the two
# slowed each other more than they overlapped: docs/performance.md). PYTEST_ARGS: one run of a
# selection, one test after another.
PYTEST := $(VENV)/bin/python -m pytest -q --durations=20
TEST_WORKERS ?= auto
FLEET_WORKERS ?= 2
# The directories of the tiers that need an engine but no cluster, first: their modules are the
# slow ones, and a worker that starts them early leaves the quick unit modules for the end
# (--no-loadscope-reorder: in this order, not pytest-xdist's default, most tests first).
ENGINE_TIERS = $(filter-out tests/local_fleet/,$(sort $(dir $(wildcard tests/*/test_*.py))))
test: lint $(DEV_VENV) $(ENGINE) $(KUBERNETES_PROVIDER) $(TESTBED) tools
ifeq ($(strip $(PYTEST_ARGS)),)
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(ENGINE_TIERS) $(UNIT_TESTS)
	$(PYTEST) -n $(FLEET_WORKERS) --dist loadgroup tests/local_fleet
else
	$(PYTEST) $(PYTEST_ARGS)
endif

lint: $(DEV_VENV)
	bash scripts/lint

# The unit suite: the test modules directly in tests/, which need neither the engine nor a
# cluster. Those that do live in a directory below it (tests/e2e, tests/local_fleet, any to come),
# so that a new one can never slip in here (or into `make bench`, which times this target).
UNIT_TESTS = $(sort $(wildcard tests/test_*.py))
unit: $(DEV_VENV) $(CRDS)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider $(UNIT_TESTS)

bench: $(DEV_VENV) $(ENGINE) $(CRDS)
	$(VENV)/bin/python scripts/bench.py

# The fleet's figures (README, "Try it locally"); minutes, and more with BENCH_FLEET_ARGS=--cold-build.
bench-fleet: $(VENV)/.installed $(ENGINE) $(TESTBED) tools
	$(VENV)/bin/python scripts/bench_fleet.py $(BENCH_FLEET_ARGS)

# The fleet at scale (docs/performance.md, "A fleet of fifty"): previews of 30 and 100 stacks,
# whole and in shards; waves of 1, 3 and 10 clusters, one at a time and in parallel; a 10 x 50
# test bed. Tens of minutes; BENCH_SCALE_ARGS to change the sizes.
BENCH_VENV := $(VENV)/.bench-installed
$(BENCH_VENV): $(VENV)/.installed scripts/requirements-bench.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-bench.txt
	@touch $@
bench-scale: $(BENCH_VENV) $(ENGINE) $(TESTBED) tools
	$(VENV)/bin/python scripts/bench_scale.py --before 797999f --chart docs/scale.png $(BENCH_SCALE_ARGS)

# The first command on a new machine: `make up STACK=beam` in a fresh clone, every cache empty
# (docs/performance.md, "The first command"); tens of minutes.
bench-first-up:
	$(PYTHON) scripts/bench_first_up.py $(BENCH_FIRST_UP_ARGS)

# `python -m hecate fleet`'s figures (README, "Rollout"): a three-wave rollout against its parts,
# and fleet preview in parallel, of the committed stacks and of 30 generated ones.
bench-rollout: $(VENV)/.installed $(ENGINE) $(TESTBED) tools
	$(VENV)/bin/python scripts/bench_rollout.py $(BENCH_ROLLOUT_ARGS)
