package io.ppsd.runtime.speculative;

import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.OutputTracker;
import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.SpeculationStats;
import io.ppsd.runtime.decode.Timings;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.List;

/**
 * Early-exit self-speculative decoding, draft-then-verify (LayerSkip style), on one thread:
 * <ol>
 *   <li>draft γ tokens one at a time through the first stage (layers [0, E)) and its exit head;</li>
 *   <li>run the drafts' layer-E hidden states through the remaining stages in one batch (the first
 *       E layers' KV entries of the drafts are reused, not recomputed) and take the full model's
 *       token at each of the γ + 1 positions;</li>
 *   <li>keep the longest matching prefix plus the full model's next token, and truncate every cache
 *       to the kept length.</li>
 * </ol>
 * With {@code adaptive} the draft length follows the observed acceptance (grow after a fully
 * accepted round, shrink after an early rejection), between 1 and γ.
 */
public final class EesdDecoder implements Decoder {
    private final List<StageExecutor> stages;
    private final int maxDraft;
    private final boolean adaptive;
    private final int dim;
    private final int vocab;
    private final java.util.concurrent.atomic.AtomicLong nextSeq = new java.util.concurrent.atomic.AtomicLong(1);

    public EesdDecoder(List<StageExecutor> stages, int draftLength, boolean adaptive) {
        if (stages.size() < 2) throw new IllegalArgumentException("EESD needs a draft stage and at least one more stage");
        if (!stages.getFirst().spec().drafts() || !stages.getFirst().spec().embedding()) {
            throw new IllegalArgumentException("the first stage must hold the embedding and an exit head");
        }
        if (!stages.getLast().spec().lmHead()) throw new IllegalArgumentException("the last stage must hold the LM head");
        if (draftLength < 1) throw new IllegalArgumentException("draft length γ must be ≥ 1, got " + draftLength);
        this.stages = List.copyOf(stages);
        this.maxDraft = draftLength;
        this.adaptive = adaptive;
        this.dim = stages.getFirst().config().hiddenSize();
        this.vocab = stages.getFirst().config().vocabSize();
    }

    /** Generates draft-then-verify; one generation at a time (the stages are single-threaded). */
    @Override
    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        long seq = nextSeq.getAndIncrement();
        var c = stages.getFirst().config();
        request.validate(c.vocabSize(), c.maxPositions());
        int[] prompt = request.prompt();
        var out = new OutputTracker(request, listener, c.maxPositions());
        SamplingParams sp = request.sampling();
        var draftSampler = new Sampler(sp, vocab);
        var verifier = new Verifier(new Sampler(sp.forVerifier(), vocab), vocab);
        boolean greedy = sp.isGreedy();
        boolean penalized = sp.repetitionPenalty() != 1f;
        for (StageExecutor s : stages) s.release(seq);

        float[] hidden = new float[(maxDraft + 1) * dim];
        float[] draftLogits = new float[vocab];
        float[] logits = new float[(maxDraft + 1) * vocab];
        float[][] draftProbs = greedy ? null : new float[maxDraft][vocab];
        int[] drafts = new int[maxDraft];
        int[] path = new int[maxDraft + 1];
        float[] row = new float[dim];
        int[] history = new int[prompt.length + request.maxNewTokens() + maxDraft + 1];
        long verified = 0, accepted = 0, rounds = 0, wasted = 0;
        try {
            long t0 = System.nanoTime();
            float[] promptHidden = new float[prompt.length * dim];
            StageExecutor first = stages.getFirst();
            first.embed(prompt, 0, prompt.length, promptHidden);
            first.forward(seq, 0, prompt.length, promptHidden);
            first.draft(seq, 0, prompt.length, promptHidden, draftLogits); // fills a transformer head's cache
            for (int s = 1; s < stages.size(); s++) stages.get(s).forward(seq, 0, prompt.length, promptHidden);
            System.arraycopy(promptHidden, (prompt.length - 1) * dim, hidden, 0, dim);
            stages.getLast().logits(hidden, 1, logits);
            int next = verifier.sample(logits, 0, out.history(), out.length());
            long t1 = System.nanoTime();
            boolean more = !out.stopped() && out.commit(next);
            int gamma = maxDraft;
            while (more) {
                int p = out.length() - 1; // position of `next`, the newest committed token
                // Never draft past the context or past the tokens still wanted.
                int g = Math.max(0, Math.min(gamma, Math.min(c.maxPositions() - 1 - p, request.maxNewTokens() - out.generatedCount())));
                // 1. Draft: positions p .. p+g through the first stage; the head drafts p+1 .. p+g.
                path[0] = next;
                for (int i = 0; i <= g; i++) {
                    first.embed(path, i, 1, row);
                    first.forward(seq, p + i, 1, row);
                    System.arraycopy(row, 0, hidden, i * dim, dim);
                    // The head also sees position p+g (its draft is unused) so a head cache has no holes.
                    first.draft(seq, p + i, 1, row, draftLogits);
                    if (i < g) {
                        // Only a repetition penalty reads the history; don't copy it for nothing.
                        int historyLength = penalized ? draftHistory(out, path, i, history) : 0;
                        int d;
                        if (greedy) {
                            d = draftSampler.sample(draftLogits, 0, history, historyLength);
                        } else {
                            float[] pd = draftSampler.distribution(draftLogits, 0, history, historyLength);
                            System.arraycopy(pd, 0, draftProbs[i], 0, vocab);
                            d = draftSampler.draw(draftProbs[i]);
                        }
                        drafts[i] = d;
                        path[i + 1] = d;
                    }
                }
                // 2. Verify the g drafts and get the bonus token: g + 1 rows through the other stages.
                for (int s = 1; s < stages.size(); s++) stages.get(s).forward(seq, p, g + 1, hidden);
                stages.getLast().logits(hidden, g + 1, logits);
                rounds++;
                // 3. Commit the longest confirmed prefix plus one token of the full model.
                int kept = 0;
                boolean stop = false;
                for (int i = 0; i <= g; i++) {
                    int token;
                    boolean ok;
                    if (i < g) {
                        var v = verifier.verify(drafts[i], greedy ? null : draftProbs[i], logits, i * vocab, out.history(), out.length());
                        token = v.token();
                        ok = v.accepted();
                        verified++;
                        if (ok) accepted++;
                    } else {
                        token = verifier.sample(logits, i * vocab, out.history(), out.length());
                        ok = false;
                    }
                    kept = i + 1;
                    next = token;
                    if (!out.commit(token)) {
                        stop = true;
                        break;
                    }
                    if (!ok) break;
                }
                more = !stop;
                // Positions p .. p+kept-1 hold confirmed tokens; `next` (at p+kept) is not computed yet.
                int keep = p + kept;
                for (StageExecutor s : stages) {
                    wasted += Math.max(0, s.length(seq) - keep);
                    s.truncate(seq, Math.min(keep, s.length(seq)));
                }
                if (adaptive) gamma = kept - 1 == g ? Math.min(maxDraft, gamma + 1) : Math.max(1, kept);
            }
            long t2 = System.nanoTime();
            int n = out.generatedCount();
            return new GenerationResult(prompt, out.generated(), out.stopReason(), new Timings(prompt.length, t1 - t0, n, t2 - t1),
                    new SpeculationStats(verified, accepted, n, rounds, wasted));
        } finally {
            for (StageExecutor s : stages) s.release(seq);
        }
    }

    @Override
    public String describe() {
        return "eesd(γ=" + maxDraft + (adaptive ? " adaptive" : "") + ")";
    }

    /** Committed tokens followed by the drafts path[1..i]: the context the (i+1)-th draft is drawn in. */
    private static int draftHistory(OutputTracker out, int[] path, int i, int[] history) {
        int n = out.length();
        System.arraycopy(out.history(), 0, history, 0, n);
        System.arraycopy(path, 1, history, n, i);
        return n + i;
    }
}
