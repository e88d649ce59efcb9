#!/usr/bin/env bash
# The GPU check: everything wavedil claims about CUDA, run in one go on one GPU in
# under 10 minutes, printing JSON lines (the device, the GPU tests' verdict, generation
# and training speed). Without a CUDA device it says so and exits 0 at once.
#
#   bash bench/gpu_check.sh            # from the repository root, wavedil installed
#
# 1. the CUDA-marked tests (pytest -m cuda): graph sampler equal to fast, steps equal to
#    the forward, every sampler's samples on the GPU, a source-filter vocoder, training
#    a few steps in trainer=gpu (bf16-mixed) for the default generator and model=vocoder_lpc;
# 2. generation speed: bench/generation.py --device cuda (fast, cached, naive, graph) at
#    batches 1, 16 and 256 on SMALL;
# 3. training speed: bench/training.py --device cuda, float32 against bf16-mixed;
# 4. precision: what trainer.precision=auto picks on this GPU, and the default tones
#    recipe to float32's quality under float32 and bf16-mixed (2 seeds: time and test
#    bits per sample, bench/training.py --time-to-quality).
# Each part has its own time limit; a part that fails or runs out of time is reported
# (its exit status in a JSON line) and the others still run. Exit status: 0 when every
# part passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo '{"gpu_check": "skipped", "reason": "no CUDA device (torch.cuda.is_available() is false)"}'
    exit 0
fi
python - <<'PY'
import json, torch
p = torch.cuda.get_device_properties(0)
print(json.dumps({"gpu_check": "device", "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                  "capability": f"{p.major}.{p.minor}", "count": torch.cuda.device_count(),
                  "torch": torch.__version__, "cuda": torch.version.cuda}))
PY

status=0
part() {  # part NAME SECONDS COMMAND...: run one part under a time limit, report its status
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$@"
    local rc=$?
    echo "{\"gpu_check\": \"$name\", \"exit_status\": $rc, \"seconds\": $((SECONDS - start)), \"timed_out\": $([ $rc -eq 124 ] && echo true || echo false)}"
    [ $rc -eq 0 ] || status=1
}

part tests 180 python -m pytest -m cuda -q -p no:cacheprovider -o addopts="-ra --strict-markers"
part generation 130 python bench/generation.py --device cuda --configs SMALL --batches 1 16 256 \
    --repeats 3 --no-memory
part training 110 python bench/training.py --device cuda --configs SMALL MEDIUM \
    --precisions 32-true bf16-mixed --repeats 2
part precision 10 python -c "import json; from wavedil.tasks.precision import resolve_precision as r; \
print(json.dumps({'gpu_check': 'precision_auto', **r('auto', 'gpu').asdict()}))"
part quality 150 python bench/training.py --time-to-quality tones --precisions 32-true bf16-mixed \
    --repeats 2
echo "{\"gpu_check\": \"done\", \"passed\": $([ $status -eq 0 ] && echo true || echo false)}"
exit $status
