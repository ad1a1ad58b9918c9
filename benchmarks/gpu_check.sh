#!/usr/bin/env bash
# One prepared GPU check: on a bare CUDA machine, make genlab importable without touching
# its torch, run the `gpu` pytest tier (tests/test_gpu.py) and benchmarks/gpu_fast_paths.py,
# and write every result under one folder. Budget: 8 minutes in all (each step has its own
# timeout: install 60 s, tier 210 s, fast paths 150 + 50 s; 7.8 min together).
#
#   benchmarks/gpu_check.sh                      # results in $OUT, else benchmarks/results/gpu_check-<time>
#   OUT=/tmp/out benchmarks/gpu_check.sh
#   benchmarks/gpu_check.sh --fetch-wheels DIR   # where a registry is reachable: download the
#                                                # pure-Python wheels a bare image may lack
#   GPU_CHECK_WHEELS=DIR benchmarks/gpu_check.sh # install from DIR only (no network there)
#
# Installing: the machine's torch (often an older pinned build) is kept. genlab itself runs
# from this checkout (PYTHONPATH=src; `pip install --no-deps -e .` where pip can build it),
# and only the missing pure-Python dependencies are installed, under a constraints file that
# pins torch (and torchvision) to the installed versions, so pip fails rather than replace
# them. Env: PYTHON (default python3), GPU_CHECK_SKIP_INSTALL=1 (install nothing).
#
# Exit status: 0 all ran and passed; 1 a step failed (see summary.json); 2 no CUDA device
# (the tier is still collected and reports its skips; the benchmark is not run).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}

# module:requirement — what genlab, its gpu tier and the benchmark import (wandb and
# tensorboard are not needed: these runs log to CSV or nothing)
DEPS=(
  "hydra:hydra-core>=1.3.2,<1.4" "omegaconf:omegaconf>=2.3,<2.4" "lightning:lightning>=2.5,<2.7"
  "torchmetrics:torchmetrics>=1.4" "torch_fidelity:torch-fidelity>=0.3" "rich:rich>=13"
  "sklearn:scikit-learn>=1.4" "matplotlib:matplotlib>=3.8" "PIL:pillow>=10" "numpy:numpy>=1.26"
  "pytest:pytest>=8" "torchvision:torchvision"
)
# pure-Python wheels (no torch among them) that --fetch-wheels downloads
WHEELS=(hydra-core omegaconf "antlr4-python3-runtime==4.9.3" lightning lightning-utilities
        torchmetrics torch-fidelity rich markdown-it-py mdurl pygments pytest pluggy iniconfig
        packaging pyyaml fsspec tqdm typing-extensions)

if [ "${1:-}" = --fetch-wheels ]; then
  dest=${2:?--fetch-wheels DIR}
  mkdir -p "$dest"
  exec "$PY" -m pip download --no-deps --only-binary=:all: --dest "$dest" "${WHEELS[@]}"
fi

OUT=${OUT:-$REPO/benchmarks/results/gpu_check-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
t0=$(date +%s)
say() { echo "[gpu_check $(( $(date +%s) - t0 ))s] $*"; }
STEPS=()
step() {  # step NAME TIMEOUT_S CMD...: run, record its exit status and seconds
  local name=$1 limit=$2 s rc; shift 2
  s=$(date +%s); say "$name: $*"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; rc=$?
  tail -n 15 "$OUT/$name.log"
  STEPS+=("\"$name\": {\"exit\": $rc, \"seconds\": $(( $(date +%s) - s )), \"limit_s\": $limit}")
  say "$name: exit $rc"
  return $rc
}

# ------------------------------------------------------------------ the machine
if ! "$PY" -c "import torch" 2>/dev/null; then
  say "no torch for $PY: this check needs a machine with a CUDA build of torch"; exit 2
fi
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
{ date -u; uname -a; "$PY" -V
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'devices', torch.cuda.device_count())"
  command -v nvidia-smi >/dev/null && nvidia-smi; } > "$OUT/machine.txt" 2>&1
say "$(sed -n 4p "$OUT/machine.txt")"

# ------------------------------------------------------------------ install what is missing
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
if [ "${GPU_CHECK_SKIP_INSTALL:-0}" != 1 ]; then
  "$PY" -c "import torch; print(f'torch=={torch.__version__}')" > "$OUT/constraints.txt"
  "$PY" -c "import torchvision; print(f'torchvision=={torchvision.__version__}')" \
    >> "$OUT/constraints.txt" 2>/dev/null
  missing=()
  for dep in "${DEPS[@]}"; do
    "$PY" -c "import ${dep%%:*}" 2>/dev/null || missing+=("${dep#*:}")
  done
  src=()
  [ -n "${GPU_CHECK_WHEELS:-}" ] && src=(--no-index --find-links "$GPU_CHECK_WHEELS")
  if [ ${#missing[@]} -gt 0 ]; then
    step install 60 "$PY" -m pip install -c "$OUT/constraints.txt" "${src[@]}" "${missing[@]}" ||
      say "installing ${missing[*]} failed: the steps below say what that breaks"
  else
    say "every dependency is already importable"
  fi
  # the console scripts too, where pip can build genlab here (never its dependencies)
  "$PY" -m pip install --no-deps --no-build-isolation -q -e "$REPO" > "$OUT/install_genlab.log" 2>&1 ||
    say "genlab runs from $REPO/src (pip could not build it here: install_genlab.log)"
fi
"$PY" -c "import torch; print(f'torch=={torch.__version__}')" > "$OUT/torch_after.txt"
[ ! -f "$OUT/constraints.txt" ] || grep -qxF "$(cat "$OUT/torch_after.txt")" "$OUT/constraints.txt" ||
  say "WARNING: torch changed: $(cat "$OUT/torch_after.txt")"

# ------------------------------------------------------------------ the gpu tier
export WANDB_MODE=offline GENLAB_ROOT="$OUT/genlab_root"
step gpu_tier 210 "$PY" -m pytest -q -p no:cacheprovider -m gpu -rs -s tests/test_gpu.py \
  --basetemp="$OUT/pytest" --junitxml="$OUT/gpu_tier.xml"
tier=$?

# ------------------------------------------------------------------ the fast paths
bench=null
if [ "$CUDA" = 1 ]; then
  # genlab's 64x64 DCGAN fast paths vs fp32 eager (fewer rounds than the default, to fit),
  # then the StudioGAN-like setting: 32x32 (CIFAR-10's size), batch 64
  step fast_paths 150 "$PY" benchmarks/gpu_fast_paths.py --rounds 3 --steps 100 --warmup 30 \
    --out-dir "$OUT/fast_paths"
  a=$?
  step fast_paths_32px_b64 50 "$PY" benchmarks/gpu_fast_paths.py --rounds 1 --steps 100 \
    --warmup 30 --batch 64 --image-size 32 --out-dir "$OUT/fast_paths_32px_b64"
  b=$?
  bench=$(( a > b ? a : b ))
else
  say "no CUDA device: the gpu tier skipped (its reasons are above); gpu_fast_paths not run"
fi

# ------------------------------------------------------------------ summary
joined=$(IFS=,; echo "${STEPS[*]}")
cat > "$OUT/summary.json" <<EOF
{"cuda": $([ "$CUDA" = 1 ] && echo true || echo false), "seconds": $(( $(date +%s) - t0 )),
 "torch": "$(cat "$OUT/torch_after.txt")", "steps": {${joined}}}
EOF
say "results in $OUT (summary.json)"
[ "$CUDA" = 1 ] || exit 2
[ "$tier" = 0 ] && [ "$bench" = 0 ] && exit 0
exit 1
