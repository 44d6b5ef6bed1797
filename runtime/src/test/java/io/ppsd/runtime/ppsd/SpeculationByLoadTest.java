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
    void stageZeroSettlesOnTheModeThatCommitsMoreAndChecksTheOtherLessAndLessOften() {
        // A pipeline where plain pipelining commits 3 tokens per ms and speculation 2 (high load, poor drafts).
        var rule = new SpeculationByLoad();
        long[] now = {0};
        int periods = 200;
        int speculating = run(rule, now, periods, 16, 2, 3);
        assertTrue(speculating > 0, "the other mode is re-measured now and then");
        assertTrue(speculating <= 1 + 4 + periods / SpeculationByLoad.MAX_INTERVAL, "measured first, then re-measured after 4, 8, 16, 32, 32… periods: "
                + speculating + " of " + periods + " periods speculated");
        int later = run(rule, now, periods, 16, 2, 3);
        assertTrue(later >= 1 && later <= periods / SpeculationByLoad.MAX_INTERVAL + 1,
                "at steady load the worse mode costs at most one period in " + SpeculationByLoad.MAX_INTERVAL + ": " + later);

        // Acceptance drifts, speculation now delivers more at this load: the rule follows at its next check.
        run(rule, now, 2 * SpeculationByLoad.MAX_INTERVAL, 16, 4, 3);
        int after = run(rule, now, periods / 2, 16, 4, 3);
        assertTrue(after > periods / 2 * 0.85, "speculation delivers more now, held " + after + " of the last " + periods / 2);
    }

    @Test
    void eachLoadKeepsItsOwnMeasurements() {
        // Speculation wins alone (idle stages to fill), plain pipelining at 16 sessions.
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, 40, 1, 3, 2);
        run(rule, now, 40, 16, 2, 3);
        int speculating = run(rule, now, 40, 1, 3, 2);
        assertTrue(speculating >= 39, "back at one session the rule speculates at once, learnt before (one re-check at most): " + speculating + " of 40");
        int plain = 40 - run(rule, now, 40, 16, 2, 3);
        assertTrue(plain >= 39, "back at 16 sessions plain decoding holds at once: " + plain + " of 40");
    }

    @Test
    void aHeavierLoadNotMeasuredYetStartsPlainWhenALighterOneFoundPlainBetter() {
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, 20, 4, 2, 3);
        assertEquals(0, run(rule, now, 1, 12, 2, 3), "the first period at 9–16 sessions decodes plainly");
        var fresh = new SpeculationByLoad();
        run(fresh, now, 20, 4, 3, 2);
        assertEquals(1, run(fresh, now, 1, 12, 2, 3), "a lighter load that found speculation better says nothing about heavier ones");
    }

    @Test
    void callsAreAttributedToTheLoadOfTheirMomentEvenWhenItChangesWithinAPeriod() {
        // Real traffic: the load changes from call to call (a request ends, the next one prefills), and
        // verdicts come in bursts (an accepted run). At 1 sequence speculation commits 3 tokens per ms and
        // plain decoding 1; at 16, plain 3 and speculation 2.
        var rule = new SpeculationByLoad();
        long now = 0;
        var random = new java.util.Random(7);
        double carry = 0;
        int load = 1;
        for (int call = 0; call < 400 * SpeculationByLoad.PERIOD_CALLS; call++) {
            now += 1_000_000;
            carry += load == 1 ? (rule.speculate() ? 3 : 1) : (rule.speculate() ? 2 : 3);
            boolean loadChanges = random.nextInt(20) == 0; // a load lasts 20 calls on average, periods are 48
            if (loadChanges || random.nextInt(3) == 0) { // a burst every third call on average, and what is due before a change
                for (; carry >= 1; carry--) rule.verdict();
            }
            rule.call(load, load, now);
            if (loadChanges) load = 17 - load;
        }
        var state = rule.toString();
        var perClass = java.util.regex.Pattern.compile("load class (\\d): speculating ([0-9.]+), plain ([0-9.]+)").matcher(state);
        var rates = new java.util.HashMap<Integer, double[]>();
        while (perClass.find()) rates.put(Integer.parseInt(perClass.group(1)), new double[] {Double.parseDouble(perClass.group(2)), Double.parseDouble(perClass.group(3))});
        assertTrue(rates.containsKey(0) && rates.containsKey(4), state);
        // Per session-second: 3000 against 1000 at one session, 2000/16 = 125 against 3000/16 = 187.5 at sixteen,
        // within 15 % (bursts, and the mode held when a burst of the other's arrives after a change of period).
        assertEquals(3000, rates.get(0)[0], 450, state);
        assertEquals(1000, rates.get(0)[1], 150, state);
        assertEquals(125, rates.get(4)[0], 19, state);
        assertEquals(187.5, rates.get(4)[1], 28, state);
        assertTrue(rates.get(0)[0] > rates.get(0)[1] && rates.get(4)[1] > rates.get(4)[0], state);
    }

    @Test
    void callsWithoutByLoadSequencesMeasureNothing() {
        var rule = new SpeculationByLoad();
        long now = 0;
        for (int call = 0; call < 20 * SpeculationByLoad.PERIOD_CALLS; call++) {
            now += 1_000_000;
            rule.verdict();
            rule.call(4, 0, now);
        }
        assertTrue(rule.speculate());
        assertEquals("speculating", rule.toString());
    }

    @Test
    void loadClassesArePowersOfTwo() {
        assertEquals(0, SpeculationByLoad.loadClass(0));
        assertEquals(0, SpeculationByLoad.loadClass(1));
        assertEquals(1, SpeculationByLoad.loadClass(2));
        assertEquals(2, SpeculationByLoad.loadClass(3));
        assertEquals(2, SpeculationByLoad.loadClass(4));
        assertEquals(3, SpeculationByLoad.loadClass(5));
        assertEquals(4, SpeculationByLoad.loadClass(16));
        assertEquals(5, SpeculationByLoad.loadClass(17));
        assertEquals(SpeculationByLoad.CLASSES - 1, SpeculationByLoad.loadClass(1_000));
    }

    /**
     * {@code periods} periods of a call per ms at {@code load} decoding sequences, committing the given
     * tokens per ms in each mode; returns the periods spent speculating.
     */
    private static int run(SpeculationByLoad rule, long[] now, int periods, int load, double speculatingPerMs, double plainPerMs) {
        int speculating = 0;
        for (int p = 0; p < periods; p++) {
            double carry = 0;
            boolean speculated = false;
            for (int c = 0; c < SpeculationByLoad.PERIOD_CALLS; c++) {
                boolean speculates = rule.speculate();
                if (c == 1) speculated = speculates; // the mode is chosen at a period's first call
                double rate = speculates ? speculatingPerMs : plainPerMs;
                now[0] += 1_000_000;
                carry += rate;
                for (; carry >= 1; carry--) rule.verdict();
                rule.call(load, load, now[0]);
            }
            if (speculated) speculating++;
        }
        return speculating;
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
