# The two commands: `make up STACK=beam` (run it) and `make test` (test it).
# Everything below works from a fresh clone: the virtualenv and the engine are
# created on first use, the state lives in .pulumi-state/ (gitignored).

STACK ?= beam
PYTHON ?= python3
HECATE_CACHE ?= $(HOME)/.cache/hecate

export PATH := $(HECATE_CACHE)/bin:$(PATH)
export PULUMI_HOME ?= $(HECATE_CACHE)/pulumi-home
# Local defaults; point these at a shared backend and a real passphrase (README).
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?= hecate-local-state
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING := true

VENV := .venv
POLICY_VENV := policy/.venv
CHECKOV_VERSION := 3.3.30

.PHONY: up preview destroy stack engine venv tools test unit bench

# Every preview, including the one `up` starts with, runs the policy pack.
up: stack
	pulumi up --stack $(STACK) --yes --policy-pack policy

preview: stack
	pulumi preview --stack $(STACK) --policy-pack policy

destroy: stack
	pulumi destroy --stack $(STACK) --yes

stack: venv engine $(POLICY_VENV)/.installed
	@mkdir -p .pulumi-state
	@pulumi stack select $(STACK) 2>/dev/null || pulumi stack init $(STACK) --secrets-provider passphrase

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# The policy pack and checkov each get a virtualenv of their own: their pins clash with the program's.
$(POLICY_VENV)/.installed: policy/requirements.txt
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --quiet --disable-pip-version-check -r policy/requirements.txt
	@touch $@

.tools/checkov/.installed:
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

tools: $(POLICY_VENV)/.installed .tools/checkov/.installed

engine:
	bash scripts/install-pulumi

test: venv engine tools
	$(VENV)/bin/python -m pytest -q tests

unit: venv
	$(VENV)/bin/python -m pytest -q tests --ignore=tests/e2e

bench: venv engine
	$(VENV)/bin/python scripts/bench.py
