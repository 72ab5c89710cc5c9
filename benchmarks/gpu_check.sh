#!/usr/bin/env bash
# The GPU check: everything issue 12 asks of a GPU, at a useful size, in about 8 minutes, written to
# benchmarks/results-gpu.json (and $OUT/results-gpu.json, which the device tool brings back).
#
# Sections (benchmarks/gpu_check.py, each timed out on its own, ok/failed/skipped, never fatal):
#   models, data               random-init 135M and 1.7B-shape models built there; a lake with splits
#   cli_train_{sft,dpo,grpo}   `warmstart train ... --device cuda`, then the runs the lake recorded
#   bench_1p7b_sft_*           vs TRL at equal settings (checkpointing off/on, fp32/bf16 weights):
#                              tokens/s, peak memory, MFU; bf16 + torch.compile; DPO and GRPO
#   fsdp_sft                   FSDP2 under torchrun on min(2, GPUs) devices; the checkpoint loads
#   bench_135m_all             SFT, DPO, GRPO vs TRL at 135M (GRPO: rollout and update time apart)
#   auto_fit_1p7b              a batch that does not fit without checkpointing: what the plan chose
#   generation                 vLLM eager vs CUDA graphs (transformers backend when vLLM is absent)
#
# On the lent machine (no registry): first, here, `bash benchmarks/gpu_wheels.sh`; then the device
# call runs `bash benchmarks/gpu_check.sh` with carry [".whl"] (README, "GPU figures").
# GPU_CHECK_SMALL=1 rehearses every section on the CPU at tiny sizes (no wheels needed here).
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=${GPU_CHECK_WORK:-/tmp/warmstart-gpu}
BUDGET=${GPU_CHECK_BUDGET_S:-420}
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
mkdir -p "$WORK"
if ls .whl/*.whl >/dev/null 2>&1 && ! "$PYTHON" -c "import duckdb, pydantic, trl" 2>/dev/null; then
  "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$WORK/site" .whl/*.whl \
    || echo "gpu_check: installing the carried wheels failed; sections that need them will say so" >&2
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PREFECT_HOME="$WORK/prefect" \
  VLLM_LOGGING_LEVEL=WARNING
small=()
[ -n "${GPU_CHECK_SMALL:-}" ] && small=(--small --limit-scale "${GPU_CHECK_LIMIT_SCALE:-1}"
                                     --model-source "${GPU_CHECK_MODEL_SOURCE:-data/models/smollm2-135m-instruct}")
exec "$PYTHON" benchmarks/gpu_check.py --work "$WORK" --budget "$BUDGET" "${small[@]}"
