package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.decode.SamplingParams;

/**
 * The messages between pipeline stages of the PPSD protocol (see the PPSD page). Every message for
 * a sequence carries its id; data and control messages carry the epoch, which increases at each
 * rejection. The same records travel between threads (in-process pipeline) and between actors.
 */
public sealed interface PipelineMessage {
    long seq();

    /**
     * What every stage must know about a sequence; travels with its first prefill chunk.
     * {@code maxLength} bounds prompt + output (at most the context); {@code window} is how many
     * positions stage 0 may run ahead of the last verified one (see {@link DraftWindow}).
     */
    record SequenceParams(int[] prompt, int maxLength, SamplingParams sampling, int[] stopTokens, DraftWindow window) {
        public int promptLength() {
            return prompt.length;
        }
    }

    /** Session → stage 0: start (or, after a lost stage, rebuild) a sequence from these tokens. */
    record Begin(long seq, SequenceParams params) implements PipelineMessage {}

    /**
     * Stage k → stage k+1: the hidden states of positions [pos, pos + rows) after stage k's layers.
     * During prefill {@code draft} is −1 (params set on the first chunk); while decoding rows is 1
     * and {@code draft} is the token stage 0 drafted for position pos + 1, with the distribution it
     * was drawn from when sampling ({@code draftProbs}, null under greedy decoding).
     * {@code epochStart} is the position at which this epoch began: a stage that has not seen this
     * epoch yet truncates its cache to it.
     */
    record Hidden(long seq, int epoch, int epochStart, int pos, int rows, float[] hidden, int draft, float[] draftProbs,
                  SequenceParams params) implements PipelineMessage {}

    /**
     * Stage k → stage k+1: the decode rows of one batched call of stage k, one {@link Hidden} per
     * sequence (one row each; several sequences, never one twice), in one message. The epoch rules
     * apply to each part on its own. {@link #seq()} is the first part's; prefill chunks travel as
     * their own {@link Hidden} (the first one carries the sequence's parameters).
     */
    record Batch(java.util.List<Hidden> parts) implements PipelineMessage {
        public Batch {
            parts = java.util.List.copyOf(parts);
            if (parts.isEmpty()) throw new IllegalArgumentException("a batch holds at least one sequence's rows");
            var seen = new java.util.HashSet<Long>();
            for (Hidden h : parts) {
                if (h.params() != null) throw new IllegalArgumentException("sequence parameters travel with a prefill chunk, not in a batch");
                if (!seen.add(h.seq())) throw new IllegalArgumentException("sequence " + h.seq() + " appears twice in one batch");
            }
        }

        @Override
        public long seq() {
            return parts.getFirst().seq();
        }
    }

    /** Verifier → stage 0: the token at position {@code pos} is committed and begins epoch {@code epoch}; recompute from it. */
    record Restart(long seq, int epoch, int pos, int token) implements PipelineMessage {}

    /** Verifier → stage 0: the draft for position {@code pos} was accepted (the draft window moves on). */
    record Accepted(long seq, int epoch, int pos) implements PipelineMessage {}

    /** Verifier → middle stages: a hint that epoch {@code epoch} began at {@code pos}; queued older work there is void. */
    record Rollback(long seq, int epoch, int pos) implements PipelineMessage {}

    /** Anyone → every stage: the sequence is over; free its caches. */
    record Finish(long seq) implements PipelineMessage {}

    // PipeSpec (io.ppsd.runtime.pipespec): between the levels of a hierarchy of separate models.

    /**
     * PipeSpec level → the next larger model: tokens of the proposing level at positions
     * {@code position ..}, produced in its {@code epoch} (the number of corrections it had applied).
     * {@code distributions[i]} is the distribution the level's token at that position follows
     * (sampling; null under greedy).
     */
    record Proposed(long seq, int epoch, int position, int[] tokens, float[][] distributions) implements PipelineMessage {}

    /**
     * PipeSpec level → the next smaller model: the sender's sequence is {@code settled} tokens long.
     * With {@code correctedAt} ≥ 0 the receiver is wrong from that position on: its sequence becomes
     * its tokens before it followed by {@code correction} (the sender's tokens from there), it drops
     * everything after, and its epoch becomes {@code epoch}.
     */
    record Verdict(long seq, int epoch, int settled, int correctedAt, int[] correction) implements PipelineMessage {
        public Verdict {
            correction = correction == null ? new int[0] : correction;
            if ((correctedAt >= 0) == (correction.length == 0)) throw new IllegalArgumentException("a correction has a position and tokens");
        }

        public static Verdict progress(long seq, int epoch, int settled) {
            return new Verdict(seq, epoch, settled, -1, null);
        }

        public boolean corrects() {
            return correctedAt >= 0;
        }
    }
}
