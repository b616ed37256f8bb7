#!/usr/bin/env bash
# Check skemd on a CUDA machine in one go (10 minutes at most, 5 more when the
# project must first be installed):
#   1. the whole test suite, where the `device` fixture also runs every device
#      test on CUDA (bfloat16 included);
#   2. the speed benchmark on CUDA at 1e5 and 1e6 rows x 100 features, float32 and
#      bfloat16, with the peers timed at 1e5 rows.
#
# Usage, from anywhere:  bash benchmarks/gpu_check.sh [OUTPUT_DIR]
# OUTPUT_DIR (default benchmarks/results) receives gpu.txt, pytest.log,
# junit.xml, speed_cuda.md, speed_cuda_learned.png, speed.log and, when the
# project had to be installed, pip.log. torch itself is never installed: the
# machine's own CUDA build is used.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/benchmarks/results}"
if ! mkdir -p "$OUT" || ! OUT="$(cd "$OUT" && pwd)"; then
    echo "error: cannot use $OUT as the output folder." >&2
    exit 1
fi
cd "$ROOT" || exit 1
PYTHON="${PYTHON:-python}"
if ! command -v "$PYTHON" > /dev/null; then
    echo "error: no Python at '$PYTHON'; set PYTHON=/path/to/python." >&2
    exit 1
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

if ! "$PYTHON" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    echo "error: $PYTHON has no CUDA-enabled torch; nothing to check here." >&2
    exit 1
fi
{
    "$PYTHON" -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
    nvidia-smi 2>/dev/null || true
} > "$OUT/gpu.txt" 2>&1

# Install the project and its test dependencies only when they are missing; the
# constraint keeps pip from replacing the installed torch.
if ! "$PYTHON" -c "import skemd, skorch, sklearn, pytest, scipy, pandas, ot, mord, matplotlib, threadpoolctl" 2>/dev/null; then
    TORCH_VERSION="$("$PYTHON" -c 'import torch; print(torch.__version__)')"
    CONSTRAINTS="$(mktemp)"
    echo "torch==$TORCH_VERSION" > "$CONSTRAINTS"
    if ! timeout 300 "$PYTHON" -m pip install --quiet -c "$CONSTRAINTS" -e ".[test]" \
        > "$OUT/pip.log" 2>&1; then
        echo "error: installing the project failed; see $OUT/pip.log" >&2
        rm -f "$CONSTRAINTS"
        exit 1
    fi
    rm -f "$CONSTRAINTS"
fi

status=0

echo "== tests (CUDA where the device fixture asks for it)"
timeout 270 "$PYTHON" -m pytest -q -p no:cacheprovider -rs \
    --junitxml="$OUT/junit.xml" > "$OUT/pytest.log" 2>&1
tests_rc=$?
tail -n 25 "$OUT/pytest.log"
[ "$tests_rc" -eq 0 ] || { echo "tests: exit code $tests_rc"; status=1; }

echo "== speed benchmark on CUDA"
timeout 300 "$PYTHON" benchmarks/speed.py --device cuda --features 100 \
    --sizes 100000 1000000 --precision float32 bfloat16 --max-peer-rows 100000 \
    --repeats 2 --output "$OUT/speed_cuda.md" > "$OUT/speed.log" 2>&1
speed_rc=$?
tail -n 60 "$OUT/speed.log"
[ "$speed_rc" -eq 0 ] || { echo "speed benchmark: exit code $speed_rc"; status=1; }

exit "$status"
