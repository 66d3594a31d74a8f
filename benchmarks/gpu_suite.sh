#!/usr/bin/env bash
# The GPU figures benchmarks/RESULTS.md has none of, in one go on one CUDA GPU (sized for 10 minutes
# on an H200):
#   1. the cifar10 pool (torchvision resnet18 at 32x32) stacked vs one at a time: training throughput
#      side by side (benchmarks/pool_throughput.py), and `unlearn-harness pool` end to end;
#   2. achieved TFLOP/s as a fraction of the dense bf16 peak, for resnet18 and the CIFAR-stem
#      resnet18_cifar (target 30% for the latter);
#   3. a bubblewrap and a Docker sandbox using the GPU (`unlearn-harness check`);
#   4. a whole `unlearn-harness run baselines/finetune.py` on cifar10 at N = 8.
#
#   benchmarks/gpu_suite.sh [OUT]        (or OUT=DIR benchmarks/gpu_suite.sh)
#
# Writes OUT/summary.md (the figures, for benchmarks/RESULTS.md), OUT/figures.json and OUT/steps.log
# (every step's output); work files go to $GPU_SUITE_WORK (default: a temporary folder). CIFAR-10 is
# read from $UNLEARN_HARNESS_DATA when cifar-10-python.tar.gz (or its folder) is there, else the
# suite runs on harness.data.readers.synthetic_cifar10 (same shapes, sizes and split) and says so.
# The pool's recipe is cut to $GPU_SUITE_EPOCHS epochs (default 2): throughput per epoch is what is
# compared. A step that fails or does not apply (no bwrap, no Docker engine) is reported as such and
# the suite goes on; every step's time limit is also cut to what is left of $GPU_SUITE_SECONDS (570).
#
# GPU_SUITE_DRY_RUN=1 runs every step at toy sizes on the CPU (tests/benchmarks/test_gpu_suite.py), so that the
# suite works the first time it meets a GPU. Its figures mean nothing.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-${OUT:-}}
if [[ -z $OUT ]]; then
    echo "usage: $0 OUT (or set OUT): the folder the figures go to" >&2
    exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PYTHON=${PYTHON:-python3}
WORK=${GPU_SUITE_WORK:-$(mktemp -d -t gpu-suite.XXXXXX)}
mkdir -p "$WORK/logs" "$WORK/competitions"
# Its own cache (pools, generated manifests): nothing of the user's is read or written.
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 UNLEARN_HARNESS_PROGRESS=0 UNLEARN_HARNESS_CACHE=$WORK/cache
cd "$REPO"

if [[ ${GPU_SUITE_DRY_RUN:-0} == 1 ]]; then
    MODE=dry-run DEVICE=cpu SYNTHETIC=synthetic_cifar10_small EPOCHS=1
    TP_MODELS=2 TP_SUBSET=32 TP_CIFAR_MODELS=2 TP_CIFAR_SUBSET=8 POOL_MODELS=3 RUN_MODELS=2
    TP_THREADS=(--threads 1)  # a shared CPU: one thread does not collapse when other work runs
else
    MODE=gpu DEVICE=cuda SYNTHETIC=synthetic_cifar10 EPOCHS=${GPU_SUITE_EPOCHS:-2}
    TP_MODELS=32 TP_SUBSET=10000 TP_CIFAR_MODELS=16 TP_CIFAR_SUBSET=10000 POOL_MODELS=16 RUN_MODELS=8
    TP_THREADS=()
fi
BUDGET=${GPU_SUITE_SECONDS:-570}
STEPS=$WORK/steps.tsv
: >"$STEPS"
: >"$OUT/steps.log"

# step NAME SECONDS COMMAND...: run COMMAND with at most SECONDS (and what is left of the budget),
# log its output, and record "NAME status seconds exit" in steps.tsv. Never stops the suite.
# $ACCEPT lists the exit codes that mean the step did its job (run and check exit 1 for a
# submission that was not scored: a result, not a failure of the suite).
step() {
    local name=$1 limit=$2 accept=${ACCEPT:-0}
    shift 2
    local left=$((BUDGET - SECONDS))
    ((limit > left)) && limit=$left
    if ((limit < 5)); then
        printf '%s\tskipped\t0\tno time left of the %s s budget\n' "$name" "$BUDGET" >>"$STEPS"
        return 1
    fi
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$WORK/logs/$name.log" 2>&1
    local code=$?
    local status=ok
    if ((code == 124 || code == 137)); then
        status=timed_out
    elif [[ " $accept " != *" $code "* ]]; then
        status=failed
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - started))" "exit $code" >>"$STEPS"
    { echo "===== $name: $status in $((SECONDS - started)) s (exit $code): $*"; cat "$WORK/logs/$name.log"; } >>"$OUT/steps.log"
    [[ $status == ok ]]
}

skip() {
    printf '%s\tskipped\t0\t%s\n' "$1" "$2" >>"$STEPS"
    echo "===== $1: skipped: $2" >>"$OUT/steps.log"
}

CLI=("$PYTHON" -m harness.cli)

# --- the machine --------------------------------------------------------------------------------
environment() {
    echo "mode: $MODE; device: $DEVICE; date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(hostname)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
    "$PYTHON" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '| gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"
}
environment >"$WORK/logs/environment.log" 2>&1
printf 'environment\tok\t0\texit 0\n' >>"$STEPS"
{ echo "===== environment"; cat "$WORK/logs/environment.log"; } >>"$OUT/steps.log"

# --- the data and the competitions ----------------------------------------------------------------
if "$PYTHON" -c "from harness.data import resolve_data_dir; from harness.data.readers.cifar10 import locate; locate(resolve_data_dir(None), download=False, download_dir=None)" >/dev/null 2>&1; then
    DATASET=cifar10
else
    DATASET=$SYNTHETIC
fi
echo "dataset: $DATASET" >>"$OUT/steps.log"
# The shipped cifar10 competition with the suite's dataset and epochs; sandbox `none` allowed so
# that the whole run still runs on a machine where neither bwrap nor Docker works (it says so).
derive() {
    local name=$1 architecture=$2 target=$WORK/competitions/$1.toml
    sed -e "s/^name = \"cifar10\"$/name = \"$name\"/" -e "s/^dataset = \"cifar10\"$/dataset = \"$DATASET\"/" \
        -e "s/^architecture = \"resnet18\"$/architecture = \"$architecture\"/" -e "s/^epochs = 30$/epochs = $EPOCHS/" \
        -e "s/^allow_unsandboxed = false$/allow_unsandboxed = true/" harness/config/competitions/cifar10.toml >"$target"
    for line in "name = \"$name\"" "dataset = \"$DATASET\"" "architecture = \"$architecture\"" "epochs = $EPOCHS" "allow_unsandboxed = true"; do
        grep -qx "$line" "$target" || { echo "harness/config/competitions/cifar10.toml changed: cannot set $line" >&2; exit 2; }
    done
    echo "$target"
}
RESNET18=$(derive "cifar10-suite-$MODE" resnet18) || exit 2
CIFAR_STEM=$(derive "cifar10-suite-$MODE-cifarstem" resnet18_cifar) || exit 2

# --- 1, 2: training throughput and FLOP/s -------------------------------------------------------------
step throughput_resnet18 150 "$PYTHON" benchmarks/pool_throughput.py --competition "$RESNET18" --device "$DEVICE" \
    --n-models "$TP_MODELS" --batch-models "$TP_MODELS" --epochs 1 --subset "$TP_SUBSET" "${TP_THREADS[@]}" --json "$WORK/throughput_resnet18.json"
step throughput_resnet18_cifar 150 "$PYTHON" benchmarks/pool_throughput.py --competition "$CIFAR_STEM" --device "$DEVICE" \
    --n-models "$TP_CIFAR_MODELS" --batch-models "$TP_CIFAR_MODELS" --epochs 1 --subset "$TP_CIFAR_SUBSET" "${TP_THREADS[@]}" --json "$WORK/throughput_resnet18_cifar.json"

# --- 1: the pool command end to end ------------------------------------------------------------------
step pool_one_at_a_time 120 "${CLI[@]}" pool --competition "$RESNET18" --n-models "$POOL_MODELS" --device "$DEVICE" \
    --jobs 1 --cache-dir "$WORK/cache-one" --batch-models 1 --quiet
step pool_stacked 90 "${CLI[@]}" pool --competition "$RESNET18" --n-models "$POOL_MODELS" --device "$DEVICE" \
    --jobs 1 --cache-dir "$WORK/cache-stacked" --batch-models "$POOL_MODELS" --quiet

# --- 3: the sandboxes on the GPU --------------------------------------------------------------------
SANDBOXES=()
if ! command -v bwrap >/dev/null; then
    skip sandbox_bwrap "bubblewrap is not installed"
elif ! bwrap --ro-bind / / true 2>"$WORK/logs/bwrap-probe.log"; then
    skip sandbox_bwrap "bubblewrap cannot start here: $(head -c 200 "$WORK/logs/bwrap-probe.log")"
else
    SANDBOXES+=(bwrap)
fi
if "$PYTHON" -c "import docker; docker.from_env().ping()" >"$WORK/logs/docker-probe.log" 2>&1; then
    SANDBOXES+=(docker)
else
    skip sandbox_docker "no Docker engine answers (or the docker SDK is missing): $(tail -n1 "$WORK/logs/docker-probe.log" | head -c 200)"
fi

# --- 4: a whole run at N = 8, in the first sandbox that works (then the checks reuse its pool) ------
RUN_SANDBOX=${SANDBOXES[0]:-none}
ACCEPT="0 1" step run_finetune 180 "${CLI[@]}" run baselines/finetune.py --competition "$RESNET18" --n-models "$RUN_MODELS" \
    --phase public --device "$DEVICE" --jobs 1 --sandbox "$RUN_SANDBOX" --cache-dir "$WORK/cache-run" --out "$WORK/run" --quiet \
    --bootstrap 20 --no-report
echo "run sandbox: $RUN_SANDBOX" >>"$OUT/steps.log"
for sandbox in "${SANDBOXES[@]}"; do
    ACCEPT="0 1" step "sandbox_$sandbox" 90 "${CLI[@]}" check baselines/finetune.py --competition "$RESNET18" --device "$DEVICE" \
        --jobs 1 --sandbox "$sandbox" --cache-dir "$WORK/cache-run" --quiet
done

# --- the figures ---------------------------------------------------------------------------------------
"$PYTHON" benchmarks/gpu_suite_report.py --work "$WORK" --out "$OUT" --mode "$MODE" --dataset "$DATASET" --epochs "$EPOCHS" \
    --run-sandbox "$RUN_SANDBOX" --seconds "$SECONDS"
