#!/usr/bin/env bash
# Check skemd on a CUDA machine in one go (about 9 minutes at most, 5 more when
# the project must first be installed):
#   1. the whole test suite, where `device="auto"` picks the GPU and the
#      `device` fixture runs every device test on CUDA too (bfloat16 included),
#      over 8 worker processes when pytest-xdist is installed;
#   2. the speed benchmark on CUDA at 1e5 and 1e6 rows x 100 features, float32
#      and bfloat16, batches of 1024, with the peers timed at 1e5 rows;
#   3. the default ensemble, 10 epochs at 2e4 and 1e5 rows, on CUDA and on the
#      CPU of the same machine (defaults_cuda.md).
# SKIP_SPEED=1 leaves out step 2.
#
# Usage, from anywhere:  bash benchmarks/gpu_check.sh [OUTPUT_DIR]
# OUTPUT_DIR (default benchmarks/results) receives gpu.txt, pytest.log,
# junit.xml, speed_cuda.md, speed_cuda_learned.png, speed.log, defaults_cuda.md
# and, when the project had to be installed, pip.log. torch itself is never
# installed: the machine's own CUDA build is used.
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
WORKERS=()
if "$PYTHON" -c "import xdist" 2>/dev/null; then
    WORKERS=(-n 8)
fi
timeout 240 "$PYTHON" -m pytest -q -p no:cacheprovider -rs "${WORKERS[@]}" \
    --junitxml="$OUT/junit.xml" > "$OUT/pytest.log" 2>&1
tests_rc=$?
tail -n 25 "$OUT/pytest.log"
[ "$tests_rc" -eq 0 ] || { echo "tests: exit code $tests_rc"; status=1; }

if [ "${SKIP_SPEED:-0}" != 1 ]; then
echo "== speed benchmark on CUDA"
timeout 210 "$PYTHON" benchmarks/speed.py --device cuda --features 100 \
    --sizes 100000 1000000 --precision float32 bfloat16 --max-peer-rows 100000 \
    --batch-size 1024 --repeats 2 --output "$OUT/speed_cuda.md" > "$OUT/speed.log" 2>&1
speed_rc=$?
tail -n 60 "$OUT/speed.log"
[ "$speed_rc" -eq 0 ] || { echo "speed benchmark: exit code $speed_rc"; status=1; }
fi

echo "== the default ensemble on CUDA and on the CPU"
timeout 150 "$PYTHON" - "$OUT/defaults_cuda.md" <<'PYTHON' 2>&1 | tail -n 20
import sys, time, warnings
import numpy as np
import torch
from skemd import EMDClassifier

warnings.simplefilter("ignore")  # ConvergenceWarning: 10 epochs on purpose
rng = np.random.default_rng(0)
lines = [
    "# The default ensemble on CUDA and on the CPU",
    "",
    f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}. "
    "`EMDClassifier()` with its defaults except 10 epochs without early "
    "stopping (to time epochs), 20 float32 features, 5 classes; at 20,000 "
    "rows the best of 2 fits after a warm-up, at 100,000 rows one fit. CPU: "
    "the estimator's own thread setting "
    "(`n_threads='auto'`: one thread).",
    "",
    "| rows | cuda (s) | cpu (s) | cpu / cuda |",
    "|---|---|---|---|",
]
for rows in (20_000, 100_000):
    X = rng.normal(size=(rows, 20)).astype(np.float32)
    y = np.digitize(X[:, :5].sum(1) + rng.normal(size=rows), [-2, -0.5, 0.5, 2])
    seconds = {}
    for device in ("cuda", "cpu"):
        best = float("inf")
        for repeat in range(3 if rows <= 20_000 else 1):
            model = EMDClassifier(
                device=device, max_iter=10, early_stopping=False, random_state=0
            )
            start = time.perf_counter()
            model.fit(X, y)
            if device == "cuda":
                torch.cuda.synchronize()
            if repeat or rows > 20_000:
                best = min(best, time.perf_counter() - start)
        seconds[device] = best
    ratio = seconds["cpu"] / seconds["cuda"]
    lines.append(f"| {rows:,} | {seconds['cuda']:.2f} | {seconds['cpu']:.2f} | {ratio:.2f} |")
text = "\n".join(lines) + "\n"
open(sys.argv[1], "w").write(text)
print(text)
PYTHON
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "default ensemble timing failed"; status=1; }

exit "$status"
