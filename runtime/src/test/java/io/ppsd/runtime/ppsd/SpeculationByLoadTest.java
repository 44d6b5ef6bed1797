package io.ppsd.runtime.ppsd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.ppsd.PipelineMessage.Batch;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Restart;
import org.junit.jupiter.api.Test;

/** The load rule of stage 0 (on a simulated clock) and the gathering of decode rows at the later stages. */
class SpeculationByLoadTest {

    @Test
    void stageZeroSettlesOnTheModeThatCommitsMoreAndKeepsCheckingTheOther() {
        // A pipeline where plain pipelining commits 3 tokens per ms and speculation 2 (high load, poor drafts).
        var rule = new SpeculationByLoad();
        long[] now = {0};
        int periods = 200;
        int plainPeriods = periods - run(rule, now, periods, 2, 3);
        assertTrue(plainPeriods > periods * 0.85, "plain pipelining delivers more: it should hold most periods, held " + plainPeriods);
        assertTrue(plainPeriods < periods, "the other mode is re-measured now and then");

        // The load drops, speculation now delivers more: the rule follows within a few explorations.
        run(rule, now, periods / 2, 4, 3);
        int speculatingPeriods = run(rule, now, periods / 2, 4, 3);
        assertTrue(speculatingPeriods > periods / 2 * 0.85, "speculation delivers more now, held " + speculatingPeriods + " of the last " + periods / 2);
    }

    /** {@code periods} periods of a call per ms committing the given tokens per ms in each mode; returns the periods spent speculating. */
    private static int run(SpeculationByLoad rule, long[] now, int periods, double speculatingPerMs, double plainPerMs) {
        int speculating = 0;
        for (int p = 0; p < periods; p++) {
            boolean speculates = rule.speculate();
            if (speculates) speculating++;
            double rate = speculates ? speculatingPerMs : plainPerMs, carry = 0;
            for (int c = 0; c < SpeculationByLoad.PERIOD_CALLS; c++) {
                now[0] += 1_000_000;
                carry += rate;
                for (; carry >= 1; carry--) rule.verdict();
                rule.call(4, now[0]);
            }
        }
        return speculating;
    }

    @Test
    void withNothingMeasuredStageZeroSpeculates() {
        assertTrue(new SpeculationByLoad().speculate());
    }

    @Test
    void decodeRowsOfDistinctSequencesGatherAndAnythingElseWaitsItsTurn() {
        var pending = new PendingRows();
        assertNull(pending.drain());
        assertTrue(pending.offer(row(1, 5)));
        assertTrue(pending.offer(new Batch(java.util.List.of(row(2, 7), row(3, 9)))));
        assertFalse(pending.offer(row(2, 8)), "a second row of sequence 2 must run after its first");
        assertFalse(pending.offer(new Restart(4, 1, 3, 11)), "control messages are not rows");
        assertFalse(pending.offer(new Hidden(5, 0, 0, 0, 3, new float[6], -1, null, null)), "prefill chunks travel alone");
        var m = (Batch) pending.drain();
        assertEquals(java.util.List.of(1L, 2L, 3L), m.parts().stream().map(Hidden::seq).toList());
        assertTrue(pending.isEmpty());
        assertTrue(pending.offer(row(2, 8)));
        assertTrue(pending.drain() instanceof Hidden h && h.seq() == 2, "a lone row stays a row");
    }

    private static Hidden row(long seq, int pos) {
        return new Hidden(seq, 1, 0, pos, 1, new float[2], 42, null, null);
    }
}
