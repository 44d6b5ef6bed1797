package io.ppsd.runtime.pipespec;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.PipelineMessage.Proposed;
import io.ppsd.runtime.ppsd.PipelineMessage.Verdict;
import io.ppsd.runtime.ppsd.ProposalsFromBelow;
import io.ppsd.runtime.speculative.Verifier;
import java.util.Arrays;

/**
 * One level of a PipeSpec hierarchy for one sequence: the rules, not the transport. The in-process
 * driver ({@link PipeSpecDecoder}) and the level actors both feed it messages and call
 * {@link #step()} when {@link #canStep()}; it runs its model and sends what follows through its
 * {@link Outbox}.
 *
 * <p>Each level holds its own view of the sequence: the prompt, then its tokens; the last one is
 * <em>pending</em> (its KV entries not computed yet). The smallest level (0) drafts one token per
 * step, autoregressively, as long as it is less than {@code lead} tokens ahead of what the level
 * above has settled (the bounded buffer). Every higher level takes the tokens the level below
 * proposed — up to its window, never waiting for more than are there, nor for any — runs them with
 * its pending token in one call, keeps the longest prefix its model confirms plus one token of its own (the
 * correction, or the bonus after a fully accepted window) and proposes those upward. The top
 * level's tokens are final.
 *
 * <p>A mismatch makes a level send a correction down: the level below replaces its token at that
 * position, drops everything after it (tokens and KV entries), bumps its epoch, and passes the
 * correction further down. Messages between two levels arrive in the order they were sent (both
 * transports guarantee it), so epochs are enough to tell stale proposals: a level counts the
 * corrections it sent down and drops proposals stamped with an older count. A correction is never
 * stale: the level above only corrects tokens of the current epoch.
 *
 * <p>Greedy: every top token is the target's argmax after the top's own prefix, so the output is
 * the target's greedy output for any timing. Sampling: each pair of levels applies speculative
 * sampling ({@link Verifier}) with the distribution the proposed token follows at the level below
 * — the level's own model distribution at that position, which is also the marginal of a token it
 * kept or corrected — so each level's tokens follow its own model and the top's the target's.
 */
public final class HierarchyLevel {

    /** Where a level's messages go: proposals to the level above (the top's: final tokens), verdicts below. */
    public interface Outbox {
        void up(Proposed proposed);

        void down(Verdict verdict);
    }

    /**
     * Counters of one level for one sequence: drafts of the level below checked and kept, model
     * calls (prefill included), rows, rows thrown away, and the time spent in its model's calls
     * (its device busy, for this sequence).
     */
    public record Stats(String level, long draftsVerified, long draftsAccepted, long calls, long rows, long wastedRows, long busyNanos) {
        public double acceptanceRate() {
            return draftsVerified == 0 ? Double.NaN : (double) draftsAccepted / draftsVerified;
        }
    }

    private final int index;
    private final boolean top;
    private final ModelLevel model;
    private final long seq;
    private final Outbox outbox;
    private final boolean greedy;
    private final Sampler drafter;
    private final Verifier verifier;
    private final WindowPolicy window;
    private final int lead;
    private final int minDrafts;
    private final int limit;
    private final int vocab;
    private final int[] tokens;
    private int length;
    private int epoch;
    private int aboveSettled;
    private final ProposalsFromBelow below; // null at the smallest level
    private int[] rowTokens;
    private float[] hidden;
    private float[] logits;
    private final int dim;
    private long verified, accepted, calls, rows, wasted, busyNanos;

    /**
     * @param index    0 for the smallest model, up to the target
     * @param top      whether this is the target
     * @param limit    the most tokens (prompt included) any level's sequence reaches
     * @param lead      the most tokens a level runs ahead of what the level above has settled
     * @param minDrafts the drafts a level waits for before a call (0: it never waits, see {@link #canStep})
     * @param sampling  the request's sampling; each level draws from its own stream
     */
    public HierarchyLevel(int index, boolean top, ModelLevel model, long seq, int[] prompt, int limit, int lead, int minDrafts,
                          WindowPolicy window, SamplingParams sampling, Outbox outbox) {
        if (lead < 1) throw new IllegalArgumentException("a level's lead must be ≥ 1, got " + lead);
        if (minDrafts < 0 || minDrafts > window.size()) {
            throw new IllegalArgumentException("a level waits for 0 to " + window.size() + " drafts (its window), not " + minDrafts);
        }
        this.minDrafts = minDrafts;
        if (prompt.length >= limit) throw new IllegalArgumentException("the prompt leaves no room below the limit of " + limit + " tokens");
        this.index = index;
        this.top = top;
        this.model = model;
        this.seq = seq;
        this.outbox = outbox;
        this.greedy = sampling.isGreedy();
        this.vocab = model.config().vocabSize();
        SamplingParams own = sampling.withSeed(sampling.seed() + 0x9E3779B97F4A7C15L * (index + 1));
        this.drafter = index == 0 ? new Sampler(own, vocab) : null;
        this.verifier = index == 0 ? null : new Verifier(new Sampler(own.forVerifier(), vocab), vocab);
        this.window = window.fresh();
        this.lead = lead;
        this.limit = limit;
        int maxWindow = this.window.size();
        this.tokens = Arrays.copyOf(prompt, limit);
        this.length = prompt.length;
        this.below = index == 0 ? null : new ProposalsFromBelow(seq, prompt.length, limit, greedy, outbox::down);
        this.aboveSettled = prompt.length;
        this.dim = model.config().hiddenSize();
        this.rowTokens = new int[0];
        this.hidden = new float[0];
        this.logits = new float[0];
        ensureRows(Math.max(maxWindow + 2, prompt.length));
    }

    /** Reserves the sequence's KV space and computes every prompt position but the last (which is pending). */
    public void prefill() {
        model.release(seq);
        model.admit(seq, limit);
        long t0 = System.nanoTime();
        if (length > 1) model.run(seq, 0, tokens, 0, length - 1, hidden, null);
        busyNanos += System.nanoTime() - t0;
    }

    /** Room for a call of {@code rows} rows (a correction can leave several positions to recompute). */
    private void ensureRows(int rows) {
        if (rowTokens.length >= rows) return;
        rowTokens = new int[rows];
        hidden = new float[rows * dim];
        logits = new float[rows * vocab];
    }

    /** A {@link Proposed} from the level below or a {@link Verdict} from the level above. */
    public void receive(PipelineMessage message) {
        switch (message) {
            case Proposed p -> propose(p);
            case Verdict v -> verdict(v);
            default -> throw new IllegalArgumentException("a PipeSpec level does not take " + message.getClass().getSimpleName());
        }
    }

    /**
     * Whether {@link #step()} has work within the lead. With {@code minDrafts} 0 (the default) a
     * level never waits for drafts: with none from below it runs its pending token alone (a window
     * of 0 — one autoregressive step of its model), and drafts that arrive later for positions it
     * has decided are checked against its tokens for free. So the target is never idle and PipeSpec
     * keeps AR's pace at any acceptance rate, less the messaging; waiting for one draft after each
     * correction cost the target a draft time per rejection instead (simulated A100-13B, a poor
     * draft: 0.77–0.84× AR waiting, 0.92–1.03× never waiting). Waiting pays when drafts are good
     * and the smallest model is much faster than the target.
     */
    public boolean canStep() {
        if (length >= limit) return false;
        if (!top && length - aboveSettled >= lead) return false;
        return index == 0 || below.available() >= minDrafts || length == limit - 1;
    }

    /** One model call: a draft (level 0) or the verification of a window of drafts. */
    public void step() {
        if (index == 0) draft();
        else verify();
    }

    public Stats stats() {
        long checked = below == null ? 0 : below.verified(), matched = below == null ? 0 : below.accepted();
        return new Stats(model.name(), verified + checked, accepted + matched, calls, rows, wasted, busyNanos);
    }

    public int length() {
        return length;
    }

    /** This level's view of the sequence: the prompt, then its tokens (the last one pending). */
    public int[] sequence() {
        return Arrays.copyOf(tokens, length);
    }

    public void release() {
        model.release(seq);
    }

    private void draft() {
        int kv = computedUpTo();
        int n = length - kv;
        ensureRows(n);
        long t0 = System.nanoTime();
        model.run(seq, kv, tokens, kv, n, hidden, logits);
        busyNanos += System.nanoTime() - t0;
        count(n, 0);
        int off = (n - 1) * vocab;
        int token;
        float[] dist = null;
        if (greedy) {
            token = drafter.sample(logits, off, tokens, length);
        } else {
            dist = drafter.distribution(logits, off, tokens, length).clone();
            Sampler.requireFinite(logits, off, Sampler.argmax(logits, off, vocab));
            token = drafter.draw(dist);
        }
        tokens[length++] = token;
        outbox.up(new Proposed(seq, epoch, length - 1, new int[] {token}, greedy ? null : new float[][] {dist}));
    }

    /**
     * Positions whose KV entries are computed: normally all but the pending token; fewer after a
     * correction that replaced several tokens or reached past this level's own (they are computed
     * in the next call, before its new rows).
     */
    private int computedUpTo() {
        int kv = model.length(seq);
        if (kv > length - 1) {
            throw new IllegalStateException(model.name() + ": " + kv + " computed positions for a sequence of " + length + " tokens");
        }
        return kv;
    }

    private void verify() {
        int base = length;
        // Unused proposals start at base (those before it were checked when they came).
        int w = Math.max(0, Math.min(Math.min(below.available(), window.size()), limit - base - 1));
        int kv = computedUpTo();
        int pre = base - 1 - kv; // rows before the pending token's, to catch up after a correction
        ensureRows(pre + w + 1);
        System.arraycopy(tokens, kv, rowTokens, 0, pre + 1);
        if (w > 0) below.copy(w, rowTokens, pre + 1);
        long t0 = System.nanoTime();
        model.run(seq, kv, rowTokens, 0, pre + w + 1, hidden, logits);
        long nanos = System.nanoTime() - t0;
        busyNanos += nanos;
        float[][] dists = greedy || top ? null : new float[w + 1][];
        for (int j = 0; j <= w; j++) {
            int off = (pre + j) * vocab;
            int token;
            boolean kept = false;
            float[] q = greedy ? null : verifier.distribution(logits, off, tokens, length);
            if (j < w) {
                int draft = rowTokens[pre + j + 1];
                if (greedy) {
                    token = verifier.sample(logits, off, tokens, length);
                    kept = token == draft;
                } else {
                    if (dists != null) dists[j] = q.clone();
                    var v = verifier.verify(draft, below.distribution(base + j), q);
                    token = v.token();
                    kept = v.accepted();
                }
                verified++;
                if (kept) accepted++;
            } else {
                if (dists != null) dists[j] = q.clone();
                token = greedy ? verifier.sample(logits, off, tokens, length) : verifier.draw(q);
            }
            tokens[length++] = token;
            if (!kept) break;
        }
        int keptDrafts = length - base - 1;
        // Positions base-1 .. base+w-1 were computed; those up to base+keptDrafts-1 hold confirmed tokens.
        model.truncate(seq, length - 1);
        count(pre + w + 1, w - keptDrafts);
        if (w > 0) window.observe(w, keptDrafts, nanos);
        outbox.up(new Proposed(seq, epoch, base, Arrays.copyOfRange(tokens, base, length),
                dists == null ? null : Arrays.copyOf(dists, length - base)));
        if (keptDrafts < w) {
            below.consume(below.start() + keptDrafts);
            below.correct(base + keptDrafts, tokens, length);
        } else {
            below.consume(below.start() + w);
            below.progress(length);
            below.reconcile(tokens, length);
        }
    }

    private void propose(Proposed p) {
        if (index == 0) throw new IllegalStateException("the smallest level has no level below to propose to it");
        below.offer(p, tokens, length, model.name());
    }

    private void verdict(Verdict v) {
        if (top) throw new IllegalStateException("the top level has no level above");
        aboveSettled = v.settled();
        if (!v.corrects()) return;
        int m = v.correctedAt();
        int[] tail = v.correction();
        if (v.epoch() != epoch + 1 || m > length || m < 1 || tail.length == 0 || m + tail.length > limit) {
            throw new IllegalStateException(model.name() + ": correction of " + tail.length + " tokens at " + m + " epoch " + v.epoch()
                    + " does not fit length " + length + " epoch " + epoch);
        }
        epoch = v.epoch();
        // Cached positions stay valid up to the first one whose token changes (and never past the new pending one).
        int same = m;
        while (same < length && same - m < tail.length && tokens[same] == tail[same - m]) same++;
        int kv = model.length(seq);
        int keep = Math.min(Math.min(kv, same), m + tail.length - 1);
        wasted += Math.max(0, kv - keep);
        model.truncate(seq, keep);
        System.arraycopy(tail, 0, tokens, m, tail.length);
        length = m + tail.length;
        if (index > 0) below.correct(m, tokens, length);
    }

    private void count(int callRows, int wastedRows) {
        calls++;
        rows += callRows;
        wasted += wastedRows;
    }
}
