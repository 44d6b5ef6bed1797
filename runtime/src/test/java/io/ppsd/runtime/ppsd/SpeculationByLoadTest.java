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
        double seconds = 300, measurement = SpeculationByLoad.MEASURE_SECONDS + 0.1; // a measurement, and the calls that end its period
        double speculated = run(rule, now, seconds, 16, 2, 3);
        assertTrue(speculated >= 2 * SpeculationByLoad.MEASURE_SECONDS, "measured first, then re-measured: " + speculated + " s");
        // A third behind: the first order re-checked after 8 s in this class, then 32, 64, 64, …
        assertTrue(speculated <= measurement * (3 + seconds / SpeculationByLoad.MAX_CHECK_SECONDS), speculated + " s of " + seconds + " speculated");
        double later = run(rule, now, seconds, 16, 2, 3);
        assertTrue(later >= SpeculationByLoad.MEASURE_SECONDS && later <= measurement * (1 + seconds / SpeculationByLoad.MAX_CHECK_SECONDS),
                "at steady load the worse mode holds one measurement in " + SpeculationByLoad.MAX_CHECK_SECONDS + " s: " + later + " s");

        // Acceptance drifts, speculation now delivers more at this load: the rule follows at its next check.
        run(rule, now, 2 * SpeculationByLoad.MAX_CHECK_SECONDS, 16, 4, 3);
        double after = run(rule, now, 100, 16, 4, 3);
        assertTrue(after > 90, "speculation delivers more now, held " + after + " s of the last 100");
    }

    @Test
    void eachLoadKeepsItsOwnMeasurements() {
        // Speculation wins alone (idle stages to fill), plain pipelining at 16 sessions.
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, 15, 1, 3, 2); // both measured, and the order confirmed by a re-check after 8 s (the next after 32 s)
        run(rule, now, 15, 16, 2, 3);
        double speculating = run(rule, now, 10, 1, 3, 2);
        assertTrue(speculating >= 9.9, "back at one session the rule speculates at once, learnt before: " + speculating + " s of 10");
        double plain = 10 - run(rule, now, 10, 16, 2, 3);
        assertTrue(plain >= 9.9, "back at 16 sessions plain decoding holds at once: " + plain + " s of 10");
    }

    @Test
    void aHeavierLoadNotMeasuredYetStartsPlainWhenALighterOneFoundPlainBetter() {
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, 5, 4, 2, 3);
        assertEquals(0, run(rule, now, 0.048, 12, 2, 3), "the first period at 9–16 sessions decodes plainly");
        var fresh = new SpeculationByLoad();
        run(fresh, now, 5, 4, 3, 2);
        assertEquals(0.048, run(fresh, now, 0.048, 12, 2, 3), 1e-9, "a lighter load that found speculation better says nothing about heavier ones");
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
        for (int call = 0; call < 60_000; call++) { // a call per ms
            now += 1_000_000;
            carry += load == 1 ? (rule.speculate() ? 3 : 1) : (rule.speculate() ? 2 : 3);
            boolean loadChanges = random.nextInt(20) == 0; // a load lasts 20 calls on average, periods are 48
            if (loadChanges || random.nextInt(3) == 0) { // a burst every third call on average, and what is due before a change
                for (; carry >= 1; carry--) rule.verdict();
            }
            rule.call(load, 0, load, now);
            if (loadChanges) load = 17 - load;
        }
        var rates = rates(rule);
        assertTrue(rates.containsKey(0) && rates.containsKey(4), rule.toString());
        // Per session-second: 3000 against 1000 at one session, 2000/16 = 125 against 3000/16 = 187.5 at sixteen,
        // within 15 % (bursts, and the mode held when a burst of the other's arrives after a change of period).
        assertEquals(3000, rates.get(0)[0], 450, rule.toString());
        assertEquals(1000, rates.get(0)[1], 150, rule.toString());
        assertEquals(125, rates.get(4)[0], 19, rule.toString());
        assertEquals(187.5, rates.get(4)[1], 28, rule.toString());
        assertTrue(rates.get(0)[0] > rates.get(0)[1] && rates.get(4)[1] > rates.get(4)[0], rule.toString());
    }

    @Test
    void trafficInWavesIsMeasuredOverWholeWaves() {
        // Closed-loop clients in lockstep: 250 ms in which every session prefills (no verdicts), then
        // 450 ms of decoding, over and over. Decoding commits 20 tokens per ms plainly and 15 speculating
        // (32 sessions on 4 stages): plain delivers 9 tokens per session-ms·…, a third more. A measurement
        // of a fraction of a wave would see anything from nothing to the decoding rate.
        var rule = new SpeculationByLoad();
        long now = 0;
        double carry = 0, plainSeconds = 0;
        int calls = 200_000; // 200 s, a call per ms
        for (int call = 0; call < calls; call++) {
            now += 1_000_000;
            boolean decoding = (now / 1_000_000) % 700 >= 250;
            if (decoding) carry += rule.speculate() ? 15 : 20;
            for (; carry >= 1; carry--) rule.verdict();
            if (!rule.speculate() && call >= calls / 2) plainSeconds += 1e-3;
            rule.call(32, 0, 32, now);
        }
        var rates = rates(rule);
        double plain = 20 * 450.0 / 700 * 1000 / 32, speculating = 15 * 450.0 / 700 * 1000 / 32; // per session-second, over whole waves
        assertEquals(plain, rates.get(5)[1], plain * 0.12, rule.toString());
        assertEquals(speculating, rates.get(5)[0], speculating * 0.12, rule.toString());
        assertTrue(plainSeconds >= 0.95 * 100, "plain decoding held " + plainSeconds + " s of the last 100");
    }

    @Test
    void callsWithoutByLoadSequencesMeasureNothingAndStartNoPeriod() {
        var rule = new SpeculationByLoad();
        long[] now = {0};
        for (int call = 0; call < 20 * SpeculationByLoad.PERIOD_CALLS; call++) {
            now[0] += 1_000_000;
            rule.verdict();
            rule.call(4, 0, 0, now[0]);
        }
        assertTrue(rule.speculate());
        assertEquals("speculating", rule.toString());

        // Speculation measured at one session; plain half measured when the by-load sessions leave. Sessions
        // of fixed modes come and go: the next by-load session finds the measurement where it was left.
        run(rule, now, SpeculationByLoad.MEASURE_SECONDS + 0.75, 1, 3, 2);
        assertTrue(rule.toString().contains("(measuring plain)"), rule.toString());
        for (int call = 0; call < 5_000; call++) {
            now[0] += 1_000_000;
            rule.call(1, 0, 0, now[0]);
        }
        double speculating = run(rule, now, 1.0, 1, 3, 2);
        assertTrue(speculating >= 0.1 && speculating <= 0.3, "the plain measurement's last 0.75 s, then speculation: speculated " + speculating + " s of 1");
    }

    @Test
    void sessionsArrivingTogetherAreNotMeasuredUntilMostOfThemDecode() {
        // Plain decoding found better at 9–16 sessions, so the first measurement at 17–32 is plain's. Then
        // 32 sessions arrive at once and prefill for 2 s (one after another gets its first token, nothing
        // committed before); decoding, plain commits 15 tokens per session-second and speculation 9. A
        // measurement of plain over the arrival saw little more than a third of that and held speculation.
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, 10, 12, 2, 3);
        rule.call(0, 0, 0, now[0] += 1_000_000); // nobody there
        double carry = 0, plainSeconds = 0;
        for (int ms = 0; ms < 20_000; ms++) {
            int starting = (int) Math.max(0, Math.ceil(32 * (1 - ms / 2000.0)));
            carry += (32 - starting) * (rule.speculate() ? 9 : 15) / 1000.0;
            for (; carry >= 1; carry--) rule.verdict();
            if (!rule.speculate()) plainSeconds += 1e-3;
            rule.call(32, starting, 32, now[0] += 1_000_000);
        }
        var rates = rates(rule);
        assertEquals(15, rates.get(5)[1], 1.5, rule.toString());
        assertTrue(plainSeconds >= 15, "plain decoding held " + plainSeconds + " s of the 20 after the arrival: " + rule);
    }

    @Test
    void theBacklogOneModeLeavesIsNotChargedToTheNext() {
        // 32 sessions on a slow host. Plain decoding commits 15 tokens per session-second, speculation 9, and
        // speculation lets prompts pile up: a waiting prompt more every 50 ms (up to 24); plain decoding
        // clears one every 200 ms, and while more than a quarter of the load waits it commits 3. A plain
        // measurement over the drain saw speculation's cost and held speculation.
        var rule = new SpeculationByLoad();
        long[] now = {0};
        double carry = 0, plainSeconds = 0;
        int waiting = 0;
        for (int ms = 0; ms < 60_000; ms++) {
            if (rule.speculate()) waiting = Math.min(24, waiting + (ms % 50 == 0 ? 1 : 0));
            else if (waiting > 0 && ms % 200 == 0) waiting--;
            double perSession = rule.speculate() ? 9 : waiting > 8 ? 3 : 15;
            carry += 32 * perSession / 1000.0;
            for (; carry >= 1; carry--) rule.verdict();
            if (!rule.speculate() && ms >= 30_000) plainSeconds += 1e-3;
            rule.call(32, waiting, 32, now[0] += 1_000_000);
        }
        assertTrue(plainSeconds >= 25, "plain decoding held " + plainSeconds + " s of the last 30: " + rule);
    }

    @Test
    void aPeriodChosenForOneSessionEndsWhenManyArrive() {
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, 10, 32, 2, 3); // plain better at 17–32 sessions
        run(rule, now, 10, 1, 3, 1); // speculation alone
        rule.call(0, 0, 0, now[0] += 1_000_000);
        for (int i = 0; i < 3; i++) rule.call(1, 0, 1, now[0] += 1_000_000); // a period at one session: speculating
        assertTrue(rule.speculate());
        rule.call(32, 31, 32, now[0] += 1_000_000);
        assertFalse(rule.speculate(), "31 more sessions arrived in the period's first calls: it ends, and plain decoding holds for them: " + rule);
    }

    @Test
    void aFirstOrderIsReCheckedSoonHoweverClearItsGap() {
        // Plain decoding's first measurement met a transient (a third of its true rate): speculation
        // looks twice as good. The order is re-checked after 8 s in the class, not after 32.
        var rule = new SpeculationByLoad();
        long[] now = {0};
        run(rule, now, SpeculationByLoad.MEASURE_SECONDS + 0.1, 16, 2, 3); // speculation measured first (a fresh rule)
        run(rule, now, SpeculationByLoad.MEASURE_SECONDS + 0.1, 16, 2, 1);
        assertTrue(rule.speculate(), rule.toString());
        double plain = 30 - run(rule, now, 30, 16, 2, 3);
        assertTrue(plain >= 15, "plain decoding held " + plain + " s of 30: " + rule);
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
     * {@code seconds} of a call per ms at {@code load} decoding sequences, committing the given
     * tokens per ms in each mode; returns the seconds spent speculating.
     */
    private static double run(SpeculationByLoad rule, long[] now, double seconds, int load, double speculatingPerMs, double plainPerMs) {
        long speculating = 0;
        double carry = 0;
        for (long c = 0, calls = Math.round(seconds * 1000); c < calls; c++) {
            boolean speculates = rule.speculate();
            if (speculates) speculating++;
            now[0] += 1_000_000;
            carry += speculates ? speculatingPerMs : plainPerMs;
            for (; carry >= 1; carry--) rule.verdict();
            rule.call(load, 0, load, now[0]);
        }
        return speculating / 1000.0;
    }

    /** Each class's two rates in the rule's description: class → [speculating, plain]. */
    private static java.util.Map<Integer, double[]> rates(SpeculationByLoad rule) {
        var perClass = java.util.regex.Pattern.compile("load class (\\d): speculating ([0-9.NaN]+), plain ([0-9.NaN]+)").matcher(rule.toString());
        var rates = new java.util.HashMap<Integer, double[]>();
        while (perClass.find()) {
            rates.put(Integer.parseInt(perClass.group(1)), new double[] {Double.parseDouble(perClass.group(2)), Double.parseDouble(perClass.group(3))});
        }
        return rates;
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
