package io.ppsd.runtime.speculative;

import io.ppsd.runtime.decode.Sampler;

/**
 * Decides whether the full model confirms a draft token.
 * <ul>
 *   <li>Greedy: accept iff the draft is the full model's choice; otherwise the full model's choice
 *       is the token. The output is exactly that of greedy autoregressive decoding.</li>
 *   <li>Sampling (lossless speculative sampling): accept with probability min(1, q(d)/p(d)), where
 *       p is the distribution the draft was drawn from and q the full model's; on rejection draw
 *       from normalize(max(0, q − p)). The output is distributed exactly as the full model's.</li>
 * </ul>
 */
public final class Verifier {
    /** The token to commit at the verified position, and whether it was the draft. */
    public record Verdict(boolean accepted, int token) {}

    private final Sampler sampler;
    private final float[] residual;

    public Verifier(Sampler sampler, int vocabSize) {
        this.sampler = sampler;
        this.residual = new float[vocabSize];
    }

    /**
     * @param draft      the drafted token
     * @param draftProbs the distribution it was drawn from (ignored under greedy sampling)
     * @param logits     the full model's logits for the same position, row at {@code off}
     * @param history    prompt and tokens before the position (repetition penalty), first {@code historyLength}
     */
    public Verdict verify(int draft, float[] draftProbs, float[] logits, int off, int[] history, int historyLength) {
        if (sampler.params().isGreedy()) {
            int y = sampler.sample(logits, off, history, historyLength);
            return new Verdict(y == draft, y);
        }
        if (draftProbs == null) throw new IllegalArgumentException("speculative sampling needs the draft distribution");
        float[] q = sampler.distribution(logits, off, history, historyLength);
        Sampler.requireFinite(logits, off, Sampler.argmax(logits, off, residual.length));
        return verify(draft, draftProbs, q);
    }

    /**
     * Speculative sampling on given distributions: {@code draftProbs} the one the draft was drawn
     * from, {@code q} the verifying model's (as {@link Sampler#distribution} makes it).
     */
    public Verdict verify(int draft, float[] draftProbs, float[] q) {
        float p = draftProbs[draft];
        if (p > 0 && sampler.uniform() < Math.min(1.0, q[draft] / p)) return new Verdict(true, draft);
        double sum = 0;
        for (int i = 0; i < residual.length; i++) {
            residual[i] = Math.max(0f, q[i] - draftProbs[i]);
            sum += residual[i];
        }
        if (sum <= 0) return new Verdict(false, sampler.draw(q)); // p == q up to rounding: q itself
        for (int i = 0; i < residual.length; i++) residual[i] /= (float) sum;
        return new Verdict(false, sampler.draw(residual));
    }

    /** A token drawn from a distribution of the verifying model (the bonus token of a window). */
    public int draw(float[] q) {
        return sampler.draw(q);
    }

    /** The verifying model's sampling distribution of a logits row (an internal buffer, valid until the next call). */
    public float[] distribution(float[] logits, int off, int[] history, int historyLength) {
        float[] q = sampler.distribution(logits, off, history, historyLength);
        Sampler.requireFinite(logits, off, Sampler.argmax(logits, off, residual.length));
        return q;
    }

    /** A token drawn from the full model alone (after prefill, and the bonus token of EESD). */
    public int sample(float[] logits, int off, int[] history, int historyLength) {
        return sampler.sample(logits, off, history, historyLength);
    }
}
