package io.ppsd.benchmarks.pipespec;

/**
 * One configuration of the PipeSpec suite on one device and corpus: generated tokens and their
 * time (after the first token), tokens/s, speedup over AR on the same device and corpus, the
 * target's acceptance of the drafts below it, every level's acceptance (smallest first, "/"
 * separated), tokens per target call, each level's busy share of the wall time (its device
 * utilisation, smallest first, "/" separated; for PPSD and PPSD targets each simulated stage's,
 * the target's stages first, then the draft models), the speedup ppsd's PipeSpec model predicts at the
 * measured α and draft cost (two levels; ρ* for PPSD and PPSD targets; NaN otherwise), the one
 * PipeSpec's own closed form predicts at the measured α with the window as lookahead (two levels
 * that never wait; NaN otherwise) and whether every output equalled AR's.
 */
public record PipeSpecRow(String device, String config, String corpus, int prompts, long tokens, double seconds, double tokensPerSecond,
                          double speedup, double alpha, String levelAlphas, double tokensPerCall, String levelBusy, double predicted,
                          double paper, boolean sameAsAr) {}
