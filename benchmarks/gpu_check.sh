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
set -euo pipefail
cd "$(dirname "$0")/.."
export ACUBENCH_BENCH_RESULTS="${OUT:-$PWD/benchmarks/results}" ACUBENCH_CACHE="${TMPDIR:-/tmp}/acubench-gpu-cache"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
if ! "$PY" -c "import soundfile" 2>/dev/null; then
  "$PY" -m pip install --quiet --no-index --find-links .wheels soundfile
fi
"$PY" -m pip install --quiet --no-deps --no-build-isolation -e . >/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$ACUBENCH_BENCH_RESULTS/gpu.txt"
cd benchmarks
step() { echo "== $* ($(date +%T))"; timeout 170 "$PY" "$@" > /dev/null || echo "!! failed or timed out: $*"; }
# Extraction: 512 clips of 8 s; the reference loop is skipped (batch-1 on a GPU says nothing new).
step bench_extract.py --encoder opera-gt --clips 512 --seconds 8 --batch-size 64 --device cuda --bf16 --no-reference
step bench_extract.py --encoder audiomae --clips 512 --seconds 8 --batch-size 64 --device cuda --bf16 --no-reference
step bench_extract.py --encoder clap --clips 256 --seconds 8 --batch-size 64 --device cuda --bf16 --no-reference
# Alignment, paper preset, a BERT-base-shaped teacher built offline, 4 loading workers.
step bench_align.py --encoder opera-gt --preset paper --epochs 2 --device cuda --precision bf16 \
  --teacher bert-base-shaped --num-workers 4
ls "$ACUBENCH_BENCH_RESULTS"
