# Two commands for a new user (README): `make demo` runs the pipeline on the bundled test data,
# `make test` runs the test suite. Both set up whatever is missing first (idempotent).
SHELL := /bin/bash
VENV := .venv
OUTDIR ?= results/test-profile
PYTEST_ARGS ?=
NFTEST_ARGS ?=

# The project's virtualenv (pysam for bin/) and a Nextflow assembled into .tools/ come after the
# user's own PATH entries, so a nextflow the user installed wins.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH):$(CURDIR)/.tools/bin

.PHONY: setup venv samtools nextflow nf-test demo test lint bench test-data clean

setup: venv samtools nextflow

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@echo "[setup] Python virtual environment $(VENV) from requirements.txt"
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q -r requirements.txt
	@touch $@

samtools:
	@tools/install-samtools.sh

nextflow:
	@nf="$$(command -v nextflow || true)"; \
	if [[ -n "$$nf" && "$$nf" != "$(CURDIR)/.tools/bin/nextflow" ]]; then \
		echo "[setup] using $$nf"; \
	else \
		tools/nextflow/install.sh; \
	fi

# nf-test for the module and pipeline tests: only `make test` needs it (tools/nf-test/install.sh: the one on
# PATH, else the official installer pinned to the snapshots' version, else a message saying how to get it).
nf-test:
	@tools/nf-test/install.sh

demo: setup
	nextflow run . -profile test --outdir $(OUTDIR)
	@echo
	@echo "Results: $(CURDIR)/$(OUTDIR)  (per sample: <sample>/<sample>_count.txt and <sample>.counts.tsv;"
	@echo "         run reports and tool versions: pipeline_info/)"

# pytest (exact counts against samtools, real runs), then nf-test (modules/local/*/tests, tests/*.nf.test):
# --ci fails on a missing or changed snapshot instead of writing it.
test: setup lint nf-test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)
	nf-test test --ci $(NFTEST_ARGS)

# ruff; every Groovy file parses in Groovy's fast mode; nf-core's pipeline lint (nf-core tools pinned in
# requirements.txt), offline, with the settings and the checks switched off in .nf-core.yml: fails on any
# failed check (warnings are allowed).
lint: venv nextflow
	$(VENV)/bin/ruff check bin tests assets benchmarks
	nextflow -q -C /dev/null run tools/groovy_parse_check.nf > /dev/null
	tools/nf-core-lint.sh

# Wall times of the pipeline vs the hand-written pool, a serial loop, a whole-file pass, featureCounts
# (Debian package subread) and samtools bedcov on panels and cohorts, with an exactness oracle (benchmarks/).
bench: setup
	@tools/install-subread.sh
	$(VENV)/bin/python benchmarks/run_bench.py $(BENCH_ARGS)

# Regenerate the bundled test BAMs (deterministic).
test-data: venv
	$(VENV)/bin/python assets/make_test_data.py

clean:
	rm -rf work .nextflow .nextflow.log* results .nf-test .nf-test.log
