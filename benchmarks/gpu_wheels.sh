#!/usr/bin/env bash
# Fetch the wheels benchmarks/gpu_check.sh needs on a lent GPU machine, which has torch,
# transformers, accelerate, peft, pyarrow and pandas but no registry access. Run it here (with
# network) before the device call; the wheels land in .whl/ (ignored by git, carried with
# `carry: [".whl"]`), about 40 MB of the 64 MB that may travel. Versions match this venv.
#
#   bash benchmarks/gpu_wheels.sh            # then: make gpu-check on the device (see README)
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
WHEELS=(
  duckdb==1.5.5 duckdb-extension-ducklake==1.5.5            # the lake: runs recorded by warmstart train
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0                                 # configs
  trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 xxhash==4.1.0  # the TRL rival
)
rm -rf .whl && mkdir -p .whl
"$PIP" download --quiet --only-binary=:all: --no-deps --python-version 3.12 \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  --implementation cp --dest .whl "${WHEELS[@]}"
if [ -n "${WITH_VLLM:-}" ]; then  # optional: far over the carry limit unless a later device allows more
  "$PIP" download --quiet --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
    --implementation cp --dest .whl vllm
fi
# the bundled model's config and tokenizer (the weights are too big to travel: gpu_models.py builds them)
mkdir -p .whl/model-config
for f in data/models/smollm2-135m-instruct/*; do
  case "$f" in *.json|*.jinja) cp "$f" .whl/model-config/ ;; esac
done
du -sh .whl && ls .whl .whl/model-config
