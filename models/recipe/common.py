"""Shared paths and settings for the ppsd-mini recipe."""
import os

RECIPE_DIR = os.path.dirname(os.path.abspath(__file__))
MODELS_DIR = os.path.dirname(RECIPE_DIR)
MODEL_DIR = os.path.join(MODELS_DIR, "ppsd-mini")
DRAFT_DIR = os.path.join(MODELS_DIR, "ppsd-mini-draft")  # distilled draft model (train_draft.py)
WORK = os.environ.get("PPSD_WORK", "/tmp/ppsd-work")

BOS, EOS, PAD = 0, 1, 2
SPECIALS = ["<|bos|>", "<|eos|>", "<|pad|>"]
VOCAB_SIZE = 4096
