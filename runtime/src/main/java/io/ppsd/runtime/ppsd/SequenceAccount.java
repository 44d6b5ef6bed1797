package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.OutputTracker;
import io.ppsd.runtime.decode.SpeculationStats;
import io.ppsd.runtime.decode.StopReason;
import io.ppsd.runtime.decode.Timings;
import io.ppsd.runtime.decode.TokenListener;

/**
 * The session side of one request on a PPSD pipeline, whatever carries the messages (threads or
 * actors): takes the verifier's commits in order, applies the request's stop rules, collects each
 * stage's {@link StageReport}, and turns them into the {@link GenerationResult}. The accounting
 * of a pipeline — timings and the steps formula — is written here once.
 *
 * <p>Not thread-safe: one owner (the verifier's thread, or the session actor) calls it.
 */
public final class SequenceAccount {
    private final GenerationRequest request;
    private final OutputTracker output;
    private final int stageCount;
    private final int reporting;
    private final Clock clock;
    private final long startNanos;
    private final StageReport[] reports;
    private int reported;
    private long firstTokenNanos;
    private long endNanos;

    /**
     * What a decoding step is. {@code PPSD}: one pipeline tick — one per verification, plus a refill
     * of S − 1 per rejection. {@code VERIFY_CALLS}: one verification call of the last stage (PipeSpec:
     * the target's calls, each checking a window of drafts).
     */
    public enum Clock { PPSD, VERIFY_CALLS }

    /** {@code startNanos}: when the request arrived (time to the first token counts from here). */
    public SequenceAccount(GenerationRequest request, TokenListener listener, int contextLength, int stageCount, long startNanos) {
        this(request, listener, contextLength, stageCount, Clock.PPSD, startNanos);
    }

    public SequenceAccount(GenerationRequest request, TokenListener listener, int contextLength, int stageCount, Clock clock, long startNanos) {
        this(request, listener, contextLength, stageCount, 0, clock, startNanos);
    }

    /** {@code draftStages}: stages of PipeSpec draft models below a PPSD target, which report too but are not on the pipeline's clock. */
    public SequenceAccount(GenerationRequest request, TokenListener listener, int contextLength, int stageCount, int draftStages, Clock clock,
                           long startNanos) {
        this.clock = clock;
        this.reporting = stageCount + draftStages;
        this.request = request;
        this.output = new OutputTracker(request, listener, contextLength);
        this.stageCount = stageCount;
        this.startNanos = startNanos;
        this.reports = new StageReport[reporting];
        if (output.stopped()) endNanos = startNanos;
    }

    /**
     * Commits the verifier's token for position {@code pos}. A token for any other position than
     * the next one (a duplicate, or one from an abandoned attempt) is ignored. Returns false once
     * the generation is over: the stages should then be told to finish the sequence.
     */
    public boolean commit(int pos, int token) {
        if (output.stopped()) return false;
        if (pos != output.length()) return true;
        long now = System.nanoTime();
        if (firstTokenNanos == 0) firstTokenNanos = now;
        boolean more = output.commit(token);
        if (!more) endNanos = now;
        return more;
    }

    /** Ends the generation early (cancellation); later commits are ignored. */
    public void cancel() {
        if (output.stopped()) return;
        output.cancel();
        endNanos = System.nanoTime();
    }

    /** Records one stage's report; true when every stage has reported. A stage reporting twice counts once. */
    public boolean report(StageReport report) {
        int k = report.stage();
        if (k < 0 || k >= reporting) throw new IllegalArgumentException("report of stage " + k + " in a pipeline of " + reporting);
        if (reports[k] == null) reported++;
        reports[k] = report;
        return reported == reporting;
    }

    /** Forgets the reports of an abandoned attempt (the sequence is rebuilt under a new id). */
    public void newAttempt() {
        java.util.Arrays.fill(reports, null);
        reported = 0;
    }

    /** True when the stop rules ended the generation. */
    public boolean done() {
        return output.stopped();
    }

    public int generatedCount() {
        return output.generatedCount();
    }

    /** Prompt followed by the tokens committed so far: what a rebuilt attempt re-prefills. */
    public int[] committedPath() {
        return java.util.Arrays.copyOf(output.history(), output.length());
    }

    public GenerationRequest request() {
        return request;
    }

    /**
     * The result from the commits and the reports received so far (a stage whose report never
     * came counts as having done nothing). Prompt time runs from the request's arrival to its
     * first token, generation time from the first token to the last; the steps are the
     * pipeline's own clock: one per verification, plus a refill of S − 1 per rejection.
     */
    public GenerationResult result() {
        long wasted = 0, verified = 0, accepted = 0, calls = 0;
        for (StageReport r : reports) {
            if (r == null) continue;
            wasted += r.wastedPositions();
            verified += r.draftsVerified();
            accepted += r.draftsAccepted();
            calls += r.verifyCalls();
        }
        int n = output.generatedCount();
        long steps = switch (clock) {
            case PPSD -> verified + (long) (stageCount - 1) * (verified - accepted);
            case VERIFY_CALLS -> calls;
        };
        long end = endNanos != 0 ? endNanos : System.nanoTime();
        long promptNanos = firstTokenNanos == 0 ? 0 : firstTokenNanos - startNanos;
        long generationNanos = firstTokenNanos == 0 ? 0 : end - firstTokenNanos;
        StopReason reason = output.stopReason() == null ? StopReason.MAX_TOKENS : output.stopReason();
        return new GenerationResult(request.prompt(), output.generated(), reason,
                new Timings(request.prompt().length, promptNanos, n, generationNanos),
                new SpeculationStats(verified, accepted, n, steps, wasted));
    }
}
