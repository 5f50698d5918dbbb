# Every target builds its own virtualenv from the pinned requirements first: a fresh clone needs
# only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

export PYTHONPATH := $(CURDIR)/lambdas:$(CURDIR)
export MOTO_EC2_LOAD_DEFAULT_AMIS := false
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export POWERTOOLS_TRACE_DISABLED := true
export CDK_DISABLE_CLI_TELEMETRY := 1

.PHONY: venv demo test lint types pytest unit integration infra synth bench bench-targets bench-refresh bench-profile clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

venv: $(STAMP)

## demo: run the watcher against an embedded moto server with seeded AMIs
demo: $(STAMP)
	$(BIN)/python -m devtools.demo

## test: lint, types, synth (+ cfn-lint), then unit + integration + infra tests in one run
test: lint types synth pytest

## synth: the CDK CLI synthesizes cdk.out/ offline (cdk-nag runs inside), then cfn-lint
synth: $(STAMP) $(NPM_STAMP)
	npx cdk synth --quiet
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadgroup tests

## bench: watcher vs bare scan at 1k..200k images (~25 min), then the scale rows: 1M and 2M
## images at a simulated 900 s, 1,024 MB Lambda (~70 min); records bench/results.json and bench/scale.json
## (SIZES=1000,10000 for a quick run without scale rows: its rows go to bench/quick/;
## SIZES= SCALE=1000000 for scale rows only)
bench: $(STAMP)
	$(BIN)/python -m devtools.bench $(if $(SIZES),--sizes $(SIZES) --scale '$(SCALE)',\
	$(if $(SCALE),--sizes '' --scale $(SCALE),))

## bench-targets: per-target cost of the fan-out (24 targets, 4 accounts x 6 regions), rows to
## bench/quick/; SIZES=1000,10000,50000 (docs/performance.md, ~35 min) records them. Then the
## organisation row (2,000 targets via the dispatcher, 200 scanned twice, ~2 min; ORG_ACCOUNTS=0
## leaves it out)
bench-targets: $(STAMP)
	$(BIN)/python -m devtools.bench_targets $(if $(SIZES),--sizes $(SIZES),) \
		$(if $(ORG_ACCOUNTS),--org-accounts $(ORG_ACCOUNTS),)

## bench-refresh: a targeted refresh of 10 ids in a 100k-image watch vs its full scan, 20 batches,
## then its forecast with 50 images due
## (~3 min); records bench/refresh.json (IMAGES=10000 for a quick run: bench/quick/)
bench-refresh: $(STAMP)
	$(BIN)/python -m devtools.bench_refresh $(if $(IMAGES),--images $(IMAGES),)

## bench-profile: where an unchanged 20k-image run's time goes (cProfile shares by group, the
## ratio to the bare scan); records bench/profile.json (IMAGES=2000 for a quick run: bench/quick/)
bench-profile: $(STAMP)
	$(BIN)/python -m devtools.bench_profile $(if $(IMAGES),--images $(IMAGES),)

unit integration infra: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadgroup tests/$@

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
