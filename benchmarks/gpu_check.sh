#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one call (about 8 minutes on an H200): extraction of OPERA-GT,
# AudioMAE and CLAP in fp32 and bf16 with the decode / features / forward time split, and AcuLa
# alignment on the paper preset. Results go to $OUT (the device tool brings that folder back).
#
# The lent GPU machine has torch, torchaudio, transformers, pandas, scikit-learn, pluggy and rich but no
# soundfile and no network, so carry soundfile's wheels with the working tree. Once, on this machine:
#   python -m pip download soundfile cffi pycparser --only-binary :all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 -d .wheels
# then run (device tool): command "bash benchmarks/gpu_check.sh", carry [".wheels"], timeout_s 600.
#
# `bash benchmarks/gpu_check.sh --dry-run` runs every step on the CPU with tiny models and a handful of clips
# (results to a temp folder, about 2 minutes on 2 cores): it checks the script and the benchmarks' arguments
# before a GPU session spends its time on them. Its figures mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
if [[ "${1:-}" == "--dry-run" ]]; then
  DRY=1 DEVICE=cpu PY="${PYTHON:-$PWD/.venv/bin/python}"
  export ACUBENCH_BENCH_RESULTS="$(mktemp -d)" ACUBENCH_CACHE="$(mktemp -d)"
  # Tiny models and a few clips: the same steps and arguments, none of the cost.
  SIZE=(--clips 4 --batch-size 2 --config tiny) ALIGN=(--preset demo --epochs 1 --max-pairs 8 --batch-size 4)
else
  DRY=0 DEVICE=cuda
  export ACUBENCH_BENCH_RESULTS="${OUT:-$PWD/benchmarks/results}" ACUBENCH_CACHE="${TMPDIR:-/tmp}/acubench-gpu-cache"
  if ! "$PY" -c "import soundfile" 2>/dev/null; then
    "$PY" -m pip install --quiet --no-index --find-links .wheels soundfile
  fi
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e . >/dev/null
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$ACUBENCH_BENCH_RESULTS/gpu.txt"
  SIZE=(--batch-size 64) ALIGN=(--preset paper --epochs 2 --precision bf16)
fi
cd benchmarks
failed=0
step() {
  echo "== $* ($(date +%T))"
  timeout 170 "$PY" "$@" > /dev/null || { echo "!! failed or timed out: $*"; failed=1; }
}
clips() { [[ $DRY == 1 ]] || echo --clips "$1"; }
# Extraction: 8 s clips; the authors' pipeline is skipped (batch-1 on a GPU says nothing new).
step bench_extract.py --encoder opera-gt $(clips 512) --seconds 8 "${SIZE[@]}" --device $DEVICE --bf16 --no-reference
step bench_extract.py --encoder audiomae $(clips 512) --seconds 8 "${SIZE[@]}" --device $DEVICE --bf16 --no-reference
step bench_extract.py --encoder clap $(clips 256) --seconds 8 "${SIZE[@]}" --device $DEVICE --bf16 --no-reference
# Alignment, a BERT-base-shaped teacher built offline, 4 loading workers.
step bench_align.py --encoder opera-gt "${ALIGN[@]}" --device $DEVICE --teacher bert-base-shaped --num-workers 4
ls "$ACUBENCH_BENCH_RESULTS"
if [[ $DRY == 1 ]]; then
  rm -rf "$ACUBENCH_BENCH_RESULTS" "$ACUBENCH_CACHE"
  exit $failed
fi
