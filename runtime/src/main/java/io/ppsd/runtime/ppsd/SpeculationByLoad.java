package io.ppsd.runtime.ppsd;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stage 0's choice over time between PPSD drafting (up to the draft window of positions in flight)
 * and plain pipelined decoding (one position in flight: every stage busy with different sessions'
 * tokens, nothing thrown away), for the sequences whose {@link DraftWindow} has {@code byLoad}.
 *
 * <p>Measured, not modelled. A first version compared a cost model of stage 0's calls
 * (e·S·c(k/S) ≥ c(k)); on the benchmark host it kept speculating where plain pipelining was 15–45 %
 * faster, because the work a thrown-away row costs is spread over every stage and the host, not in
 * stage 0's call times. So stage 0 measures what each mode delivers: <b>verdicts per by-load
 * session-second</b> (each verdict commits exactly one token; a second in which n by-load sequences
 * were at stage 0, decoding or prefilling, counts n session-seconds), which at one load is aggregate
 * throughput divided by that load. Prefilling sessions count: a mode that slows the prefill chunks
 * down (speculation at high load: every call carries a row of every decoding sequence) delivers
 * less per session even when each decoding sequence gets its tokens as fast.
 *
 * <p>Per call, per load. Which mode wins depends on how many sequences share the stages, so the
 * measurements are kept per <em>load class</em>: the number of sequences at stage 0, decoding or
 * prefilling (a burst of new prompts takes the stages' time too), in powers of two (1, 2, 3–4,
 * 5–8, …). Each stage-0 call attributes the time since the previous call and the verdicts that
 * arrived in it to the class of the load at that call and to the mode then held, into sums that
 * forget slowly (the last ≈ {@value #MEMORY_CALLS} calls of that class and mode weigh most). Loads
 * change from call to call under real traffic (a request ends, the next one prefills), so a
 * measurement that waited for a whole period at one load would rarely be taken and one of a few
 * verdicts would decide: the session-6 version of this rule did that, and held plain decoding at
 * two sessions where speculating was 55 % faster.
 *
 * <p>Time is cut into periods of {@value #PERIOD_CALLS} stage-0 calls (or {@value
 * #MIN_PERIOD_CALLS} once half a second has passed, for slow calls); one mode holds for a period,
 * chosen for the class of the load at its start, and a period is attributed from its second
 * quarter on (the first lets the positions in flight of the previous mode drain). A class with too little
 * measured in a mode ({@value #MIN_VERDICTS} verdicts) measures it; a class with nothing measured
 * starts in the mode a lighter class found better when that was plain decoding (speculation only
 * loses more as load grows), else speculating. Once both modes are measured the better one holds,
 * and the other is re-measured for one period after an interval of periods of that class that
 * doubles each time it is confirmed worse, from {@value #FIRST_INTERVAL} (or {@value
 * #CLEAR_GAP_INTERVAL} when it is at least a fifth behind) to {@value #MAX_INTERVAL}, and starts
 * over when the order flips: at steady load the worse mode holds one period in {@value
 * #MAX_INTERVAL}, and a drift of acceptance is still noticed. Tokens never change either way.
 */
final class SpeculationByLoad {
    private static final Logger log = LoggerFactory.getLogger(SpeculationByLoad.class);
    static final int PERIOD_CALLS = 48;
    /** Slow calls (a large model on few cores) end a period after this many calls once it has lasted {@link #PERIOD_NANOS}. */
    static final int MIN_PERIOD_CALLS = 12;
    static final long PERIOD_NANOS = 500_000_000L;
    static final int FIRST_INTERVAL = 4;
    static final int MAX_INTERVAL = 32;
    /** A gap between the modes of at least this fraction is re-checked after {@link #CLEAR_GAP_INTERVAL} periods at once. */
    static final double CLEAR_GAP = 0.2;
    static final int CLEAR_GAP_INTERVAL = 16;
    static final int CLASSES = 8; // loads 1, 2, 3–4, …, 65 and more
    /** How many attributed calls of one class and mode the sums remember (each call forgets 1/this of the past). */
    static final int MEMORY_CALLS = 256;
    /**
     * Verdicts (forgetting included) before a mode's rate at a class counts as measured: enough to
     * span the waves of closed-loop traffic (sessions that start, decode, finish and prefill their
     * successors together make the verdicts come in phases of a few hundred milliseconds; one
     * window of 0.2 s measured anything from 4 to 28 tokens per session-second for the same mode).
     */
    static final int MIN_VERDICTS = 64;
    /**
     * The weight a worse mode's old measurement keeps when it is re-measured: half (one re-check is
     * a window of three quarters of a period, too short to outweigh what was learnt over several,
     * but a drift still shows within a few re-checks; a wrong flip corrects itself, since the mode
     * then held is measured at every call).
     */
    static final double STALE_WEIGHT = 0.5;
    private static final int SPECULATING = 0, PLAIN = 1;
    private static final double KEEP = 1 - 1.0 / MEMORY_CALLS;

    /** What is known at one load class. */
    private static final class LoadClass {
        final double[] verdicts = new double[2]; // [speculating, plain], forgetting
        final double[] sessionNanos = new double[2];
        final boolean[] measuredOnce = new boolean[2]; // MIN_VERDICTS reached (an aged measurement stays one)
        int periods; // periods chosen for this class
        int interval = FIRST_INTERVAL;
        int nextCheck = -1; // the period after which the worse mode is re-measured; -1: none due yet

        boolean measured(int mode) {
            return measuredOnce[mode];
        }

        /** Verdicts per session-second in {@code mode}. */
        double rate(int mode) {
            return sessionNanos[mode] > 0 ? verdicts[mode] * 1e9 / sessionNanos[mode] : Double.NaN;
        }

        /** How far the worse mode is behind, as a fraction of the better one's rate. */
        double gap() {
            double a = rate(SPECULATING), b = rate(PLAIN);
            return Math.abs(a - b) / Math.max(a, b);
        }

        int better() {
            return rate(SPECULATING) >= rate(PLAIN) ? SPECULATING : PLAIN;
        }

        /** Before {@code mode} is re-measured: its old measurement keeps {@value #STALE_WEIGHT} of its weight. */
        void age(int mode) {
            verdicts[mode] *= STALE_WEIGHT;
            sessionNanos[mode] *= STALE_WEIGHT;
        }

        void attribute(int mode, int verdictsNow, double sessionNanosNow) {
            verdicts[mode] = verdicts[mode] * KEEP + verdictsNow;
            sessionNanos[mode] = sessionNanos[mode] * KEEP + sessionNanosNow;
            if (verdicts[mode] >= MIN_VERDICTS) measuredOnce[mode] = true;
        }
    }

    private final LoadClass[] classes = new LoadClass[CLASSES];
    private int mode = SPECULATING;
    private long periodStart;
    private long lastCall = -1;
    private int calls;
    private boolean measuring;
    private int pendingVerdicts;
    /** The class whose worse mode the period now running re-measures, and which mode was better before; -1: none. */
    private int checkedClass = -1;
    private int betterBeforeCheck;

    SpeculationByLoad() {
        for (int i = 0; i < CLASSES; i++) classes[i] = new LoadClass();
    }

    /** The class of {@code load} decoding sequences: 0 for one (or none), then ⌈log₂ load⌉, capped. */
    static int loadClass(int load) {
        return load <= 1 ? 0 : Math.min(CLASSES - 1, 32 - Integer.numberOfLeadingZeros(load - 1));
    }

    /** Whether by-load sequences speculate now. */
    boolean speculate() {
        return mode == SPECULATING;
    }

    /** A verdict on a draft of a by-load sequence (one committed token). */
    void verdict() {
        pendingVerdicts++;
    }

    /**
     * One stage-0 call ended at {@code now}; {@code load} sequences were at stage 0, decoding or
     * prefilling (by load or not: all of them share the stages), {@code byLoadSessions} of them by
     * load.
     */
    void call(int load, int byLoadSessions, long now) {
        int c = loadClass(load);
        if (calls == 0) {
            periodStart = now;
            mode = choose(c, byLoadSessions > 0);
        }
        calls++;
        if (measuring && byLoadSessions > 0 && lastCall >= 0 && now > lastCall) {
            classes[c].attribute(mode, pendingVerdicts, (double) (now - lastCall) * byLoadSessions);
        }
        pendingVerdicts = 0;
        lastCall = now;
        if (!measuring && (calls >= PERIOD_CALLS / 4 || (calls >= MIN_PERIOD_CALLS / 4 && now - periodStart >= PERIOD_NANOS / 4))) {
            measuring = true; // from the next call on: the verdicts of these calls are the mode's own
        }
        boolean longEnough = calls >= PERIOD_CALLS || (calls >= MIN_PERIOD_CALLS && now - periodStart >= PERIOD_NANOS);
        if (!longEnough) return;
        if (checkedClass >= 0) checked(classes[checkedClass]);
        if (log.isDebugEnabled()) log.debug("period at load {} over: {}", load, this);
        calls = 0;
        measuring = false;
    }

    /** A period re-measured the class's worse mode: confirmed worse, wait twice as long next time; better now, start over. */
    private void checked(LoadClass k) {
        if (k.better() != betterBeforeCheck) k.interval = FIRST_INTERVAL;
        else k.interval = Math.min(MAX_INTERVAL, Math.max(2 * k.interval, k.gap() >= CLEAR_GAP ? CLEAR_GAP_INTERVAL : 0));
        k.nextCheck = k.periods + k.interval;
        checkedClass = -1;
    }

    /**
     * The mode of a period starting at load class {@code c}; {@code counts}: by-load sequences are
     * decoding, so the period measures (periods without them neither count nor re-measure).
     */
    private int choose(int c, boolean counts) {
        LoadClass k = classes[c];
        boolean spec = k.measured(SPECULATING), plain = k.measured(PLAIN);
        if (!spec && !plain) return lighterLoadsPreferPlain(c) ? PLAIN : SPECULATING;
        if (!spec) return SPECULATING;
        if (!plain) return PLAIN;
        int better = k.better();
        if (!counts) return better;
        k.periods++;
        if (k.nextCheck < 0) { // both modes just got measured: a clear gap is re-checked later (it is unlikely to close soon)
            if (k.gap() >= CLEAR_GAP) k.interval = CLEAR_GAP_INTERVAL;
            k.nextCheck = k.periods + k.interval;
        }
        if (k.periods < k.nextCheck) return better;
        checkedClass = c;
        betterBeforeCheck = better;
        k.age(1 - better); // what it measured long ago says little about now (a drift of acceptance)
        return 1 - better;
    }

    /** Whether a lighter load class already measured plain decoding as the better mode. */
    private boolean lighterLoadsPreferPlain(int c) {
        for (int i = 0; i < c; i++) {
            LoadClass lighter = classes[i];
            if (lighter.measured(SPECULATING) && lighter.measured(PLAIN) && lighter.better() == PLAIN) return true;
        }
        return false;
    }

    @Override
    public String toString() {
        var b = new StringBuilder(speculate() ? "speculating" : "plain");
        for (int i = 0; i < CLASSES; i++) {
            LoadClass k = classes[i];
            if (k.verdicts[SPECULATING] == 0 && k.verdicts[PLAIN] == 0) continue;
            b.append(String.format(java.util.Locale.ROOT, "; load class %d: speculating %.1f, plain %.1f tokens per session-second", i,
                    k.rate(SPECULATING), k.rate(PLAIN)));
        }
        return b.toString();
    }
}
