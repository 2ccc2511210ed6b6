# RATE: each phase runs here, or is submitted with sbatch when a SLURM partition is set.
#
#   make demo                                  the whole pipeline on the offline default (config.yaml)
#   make smoke                                 the same as a smoke test (30 examples)
#   make test                                  the test suite
#   make create_dataset CONFIG=custom.yaml     one phase; likewise score_dataset, treatment_effects, visualize
#   make pipeline CONFIG=custom.yaml           all four phases (chained SLURM jobs when PARTITION is set)
#   make score_dataset ARGS="--scoring.model=vader --smoke_test=true"   overrides for the script
#
# PARTITION comes from the command line, the environment or .env; RUN=local runs here regardless.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= config.yaml
ARGS ?=
PARTITION ?= $(shell [ -f .env ] && sed -n 's/^[[:space:]]*PARTITION=//p' .env | tr -d "\"' " | tail -n 1)
RUN ?= $(if $(PARTITION),slurm,local)
GPUS ?= 1
PHASES := create_dataset score_dataset treatment_effects visualize
# Per-phase sbatch resources; only scoring asks for a GPU.
SBATCH_create_dataset := --cpus-per-task=2 --mem=8G --time=24:00:00
SBATCH_score_dataset := --cpus-per-task=4 --mem=32G --time=12:00:00 $(if $(filter-out 0,$(GPUS)),--gres=gpu:$(GPUS))
SBATCH_treatment_effects := --cpus-per-task=1 --mem=8G --time=01:00:00
SBATCH_visualize := --cpus-per-task=1 --mem=4G --time=00:30:00
SBATCH_COMMON = --parsable --partition="$(PARTITION)" --output=logs/%x_%j.out --error=logs/%x_%j.err

.PHONY: help venv demo smoke test pipeline $(PHASES)

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

# The venv is (re)built whenever requirements.txt changes; the stamp file records the last install.
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

$(PHASES): venv
	@if [ "$(RUN)" = slurm ]; then \
	  mkdir -p logs && sbatch $(SBATCH_COMMON) --job-name=rate-$@ $(SBATCH_$@) slurm/phase.sbatch $@ "$(CONFIG)" $(ARGS); \
	else \
	  $(PY) $@.py --config "$(CONFIG)" $(ARGS); \
	fi

pipeline: venv
	@if [ "$(RUN)" = slurm ]; then \
	  mkdir -p logs; dependency=""; \
	  $(foreach phase,$(PHASES),job=$$(sbatch $(SBATCH_COMMON) --job-name=rate-$(phase) $$dependency $(SBATCH_$(phase)) \
	    slurm/phase.sbatch $(phase) "$(CONFIG)" $(ARGS)) || exit 1; echo "$(phase): job $$job"; \
	    dependency="--dependency=afterok:$$job --kill-on-invalid-dep=yes";) \
	else \
	  for phase in $(PHASES); do $(PY) $$phase.py --config "$(CONFIG)" $(ARGS) || exit 1; done; \
	fi

demo: venv
	@for phase in $(PHASES); do $(PY) $$phase.py --config config.yaml $(ARGS) || exit 1; done

smoke: venv
	@for phase in $(PHASES); do $(PY) $$phase.py --config "$(CONFIG)" --smoke_test=true $(ARGS) || exit 1; done

test: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg $(PY) -m pytest -q $(PYTEST_ARGS)
