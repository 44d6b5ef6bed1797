package io.ppsd.runtime.ppsd;

import java.util.Locale;
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
 * prefilling, in powers of two (1, 2, 3–4, 5–8, …). Each stage-0 call attributes the time since the
 * previous call and the verdicts that arrived in it to the class of the load at that call and to
 * the mode then held, into sums that forget with the time spent in that class and mode (a time
 * constant of {@value #MEMORY_SECONDS} s). Loads change from call to call under real traffic (a
 * request ends, the next one prefills), so a measurement that waited for a whole period at one load
 * would rarely be taken.
 *
 * <p>In time, not in calls. Traffic comes in waves (closed-loop clients start, decode, finish and
 * prefill their successors together: verdicts in phases of a few hundred milliseconds, a window of
 * 0.2 s measured anything from 4 to 28 tokens per session-second for the same mode), and at one
 * session plain decoding makes a call every 25 ms where speculation makes one every 6 ms. So a mode
 * counts as measured at a class only after a <em>measurement</em> of at least {@value
 * #MEASURE_SECONDS} s in that class and mode and {@value #MIN_VERDICTS} verdicts (at most {@value
 * #MAX_MEASURE_SECONDS} s), run period after period at that class until it is complete; and the
 * worse mode is re-measured after {@value #FIRST_CHECK_SECONDS} s in that class, then after a time
 * that doubles each time a re-check confirms the order (at least {@value #CLEAR_GAP_CHECK_SECONDS} s
 * once it is confirmed a fifth behind or more) up to {@value #MAX_CHECK_SECONDS} s, and starts over
 * when the order flips: at steady load the worse mode holds about {@value #MEASURE_SECONDS} s in
 * {@value #MAX_CHECK_SECONDS}, and a drift of acceptance is still noticed. A re-measured mode keeps {@value #STALE_WEIGHT} of its
 * old figure.
 *
 * <p>Periods of {@value #PERIOD_CALLS} stage-0 calls (or {@value #MIN_PERIOD_CALLS} once half a
 * second has passed, for slow calls) are when the mode is chosen, for the class of the load at the
 * period's start. A class with nothing measured starts in the mode a lighter class found better when
 * that was plain decoding (speculation only loses more as load grows), else speculating. After a
 * change of mode the first quarter of a period is not attributed (the positions in flight of the
 * previous mode drain), nor any call until the sequences without a first token are fewer than
 * {@value #ARRIVAL_SEQUENCES} or at most a quarter of the load (at most {@value
 * #MAX_MEASURE_SECONDS} s): speculation at high load leaves a backlog of prompts, and a plain period
 * measured while it drained paid speculation's cost (on 2 cores at 32 sessions that held speculation,
 * −18 %). Calls without by-load sequences are no period at all: the first by-load
 * sequence to arrive starts one.
 *
 * <p>Arrivals. Sessions that arrive together (a burst of requests; each point of a benchmark) first
 * prefill together: for a second or so nothing is committed, and then the prefilled sessions decode
 * at once. A first measurement that spanned that transient ordered the modes wrongly (plain decoding
 * measured at 9 tokens per session-second against ~15 in steady state, and speculation, measured
 * next, reaping what was prefilled). So a call during an arrival — at least {@value
 * #ARRIVAL_SEQUENCES} sequences and more than half of those at stage 0 still without their first
 * token — is not attributed when it would go to a mode's first measurement at its class (for at
 * most {@value #MAX_MEASURE_SECONDS} s of such calls: a mode may keep most sessions waiting); re-checks
 * and the mode held count every call (the waves of steady traffic are part of what a mode
 * delivers). A period chosen for one class ends in its first quarter when the load rises two classes
 * above it (the first of 32 arriving sessions had chosen for all of them, putting them out of step
 * for as long as they ran). Tokens never change either way.
 */
final class SpeculationByLoad {
    private static final Logger log = LoggerFactory.getLogger(SpeculationByLoad.class);
    static final int PERIOD_CALLS = 48;
    /** Slow calls (a large model on few cores) end a period after this many calls once it has lasted {@link #PERIOD_NANOS}. */
    static final int MIN_PERIOD_CALLS = 12;
    static final long PERIOD_NANOS = 500_000_000L;
    static final int CLASSES = 8; // loads 1, 2, 3–4, …, 65 and more
    /** The time constant, in seconds of one class and mode, over which the sums forget. */
    static final double MEMORY_SECONDS = 4;
    /** A measurement spans at least this much time in its class and mode: two waves of closed-loop traffic. */
    static final double MEASURE_SECONDS = 1.5;
    static final int MIN_VERDICTS = 32;
    /** A measurement ends here even with fewer verdicts (a slow host: a verdict every 100 ms). */
    static final double MAX_MEASURE_SECONDS = 6;
    static final double FIRST_CHECK_SECONDS = 8;
    /** A gap between the modes of at least this fraction is re-checked after {@link #CLEAR_GAP_CHECK_SECONDS} at once. */
    static final double CLEAR_GAP = 0.2;
    static final double CLEAR_GAP_CHECK_SECONDS = 32;
    static final double MAX_CHECK_SECONDS = 64;
    /**
     * The weight a worse mode's old figure keeps when it is re-measured: a re-measurement spans as
     * many waves as the first, so it may move the figure far, but a drift shows within a re-check or
     * two; a wrong flip corrects itself, since the mode then held is measured at every call.
     */
    static final double STALE_WEIGHT = 0.25;
    /** An arrival: at least this many sequences, and more than half of those at stage 0, still without their first token. */
    static final int ARRIVAL_SEQUENCES = 4;
    private static final int SPECULATING = 0, PLAIN = 1, NONE = -1;

    /** What is known at one load class. */
    private static final class LoadClass {
        final double[] verdicts = new double[2]; // [speculating, plain], forgetting
        final double[] sessionNanos = new double[2];
        final boolean[] measured = new boolean[2]; // one measurement completed (an aged figure stays measured)
        int measuring = NONE; // the mode a measurement now runs for
        boolean recheck; // that measurement re-measures the worse mode
        int betterBefore;
        double measuredVerdicts, measuredNanos; // of the running measurement
        double arrivalNanos; // the running first measurement's time passed over for arrivals
        double heldNanos; // time in the better mode once both are measured
        double checkAfterNanos; // heldNanos at which the worse mode is re-measured
        double intervalNanos;

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

        void startMeasuring(int mode, boolean recheck) {
            measuring = mode;
            this.recheck = recheck;
            measuredVerdicts = 0;
            measuredNanos = 0;
            arrivalNanos = 0;
            if (recheck) {
                betterBefore = 1 - mode;
                verdicts[mode] *= STALE_WEIGHT; // what it measured long ago says little about now (a drift of acceptance)
                sessionNanos[mode] *= STALE_WEIGHT;
            }
        }

        /**
         * Whether a call of {@code nanos} in {@code mode} during an arrival of sessions is passed over: it
         * would go to the mode's first measurement here, which has passed over less than {@link
         * #MAX_MEASURE_SECONDS} s (a mode that keeps most sessions waiting for their first token is
         * measured as it is).
         */
        boolean passOverArrival(int mode, long nanos) {
            if (measuring != mode || recheck || measured[mode] || arrivalNanos >= MAX_MEASURE_SECONDS * 1e9) return false;
            arrivalNanos += nanos;
            return true;
        }

        void attribute(int mode, int verdictsNow, long nanos, double sessionNanosNow) {
            double keep = Math.exp(-nanos / (MEMORY_SECONDS * 1e9));
            verdicts[mode] = verdicts[mode] * keep + verdictsNow;
            sessionNanos[mode] = sessionNanos[mode] * keep + sessionNanosNow;
            if (measuring == mode) {
                measuredVerdicts += verdictsNow;
                measuredNanos += nanos;
                if (measuredNanos >= MEASURE_SECONDS * 1e9 && (measuredVerdicts >= MIN_VERDICTS || measuredNanos >= MAX_MEASURE_SECONDS * 1e9)) measured();
            } else if (measuring == NONE && measured[SPECULATING] && measured[PLAIN] && mode == better()) {
                heldNanos += nanos;
            }
        }

        /** A measurement is complete: schedule the next re-check (twice as late when it confirmed the order, from the start when it flipped). */
        private void measured() {
            measured[measuring] = true;
            measuring = NONE;
            if (!measured[SPECULATING] || !measured[PLAIN]) return;
            // An order not yet confirmed by a re-check is checked soon, however clear the gap: a first
            // measurement may have met a transient the arrival filter did not catch (a wrong order with
            // a large gap was held for 32 s); a confirmed one waits twice as long each time.
            if (!recheck || better() != betterBefore) intervalNanos = FIRST_CHECK_SECONDS * 1e9;
            else intervalNanos = Math.min(MAX_CHECK_SECONDS * 1e9, Math.max(2 * intervalNanos, (gap() >= CLEAR_GAP ? CLEAR_GAP_CHECK_SECONDS : FIRST_CHECK_SECONDS) * 1e9));
            checkAfterNanos = heldNanos + intervalNanos;
            recheck = false;
        }
    }

    private final LoadClass[] classes = new LoadClass[CLASSES];
    private int mode = SPECULATING;
    private int periodClass; // the load class the period's mode was chosen for
    private long periodStart;
    private long lastCall = -1;
    private int calls;
    private int settlingCalls; // calls of this period not attributed: the previous mode's positions drain
    private long drainingSince = -1; // since a change of mode, until the prompts waiting then are down to a quarter of the load
    private int pendingVerdicts;
    /** What the period now running measured (for the DEBUG log). */
    private int periodVerdicts;
    private double periodSessionNanos;

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
     * prefilling (by load or not: all of them share the stages), {@code starting} of them still
     * without their first token (prefilling, or their prompt at the later stages), {@code
     * byLoadSessions} of them by load.
     */
    void call(int load, int starting, int byLoadSessions, long now) {
        if (byLoadSessions == 0) { // nothing to measure, nobody to choose for: the next by-load sequence starts a period
            calls = 0;
            pendingVerdicts = 0;
            lastCall = now;
            return;
        }
        int c = loadClass(load);
        if (calls > 0 && calls <= PERIOD_CALLS / 4 && c >= periodClass + 2) calls = 0; // a burst of sessions: choose for the load now here
        if (calls == 0) {
            periodStart = now;
            periodClass = c;
            int chosen = choose(c);
            settlingCalls = chosen != mode ? PERIOD_CALLS / 4 : 0;
            if (chosen != mode) drainingSince = now;
            mode = chosen;
            periodVerdicts = 0;
            periodSessionNanos = 0;
        }
        calls++;
        boolean arrival = starting >= ARRIVAL_SEQUENCES && 2 * starting > load;
        if (drainingSince >= 0 && (starting < ARRIVAL_SEQUENCES || 4 * starting <= load || now - drainingSince >= MAX_MEASURE_SECONDS * 1e9)) {
            drainingSince = -1;
        }
        if (calls > settlingCalls && drainingSince < 0 && lastCall >= 0 && now > lastCall && !(arrival && classes[c].passOverArrival(mode, now - lastCall))) {
            double sessionNanos = (double) (now - lastCall) * byLoadSessions;
            classes[c].attribute(mode, pendingVerdicts, now - lastCall, sessionNanos);
            periodVerdicts += pendingVerdicts;
            periodSessionNanos += sessionNanos;
        }
        pendingVerdicts = 0;
        lastCall = now;
        boolean longEnough = calls >= PERIOD_CALLS || (calls >= MIN_PERIOD_CALLS && now - periodStart >= PERIOD_NANOS);
        if (!longEnough) return;
        if (log.isDebugEnabled()) {
            log.debug(String.format(Locale.ROOT, "period at load %d over (%s, %d calls, %.0f ms, measured %d verdicts in %.3f session-s = %.1f): %s", load,
                    speculate() ? "speculating" : "plain", calls, (now - periodStart) / 1e6, periodVerdicts, periodSessionNanos / 1e9,
                    periodVerdicts * 1e9 / periodSessionNanos, this));
        }
        calls = 0;
    }

    /** The mode of a period starting at load class {@code c}. */
    private int choose(int c) {
        LoadClass k = classes[c];
        if (k.measuring != NONE) return k.measuring;
        boolean spec = k.measured[SPECULATING], plain = k.measured[PLAIN];
        if (!spec && !plain) k.startMeasuring(lighterLoadsPreferPlain(c) ? PLAIN : SPECULATING, false);
        else if (!spec) k.startMeasuring(SPECULATING, false);
        else if (!plain) k.startMeasuring(PLAIN, false);
        else if (k.heldNanos >= k.checkAfterNanos) k.startMeasuring(1 - k.better(), true);
        else return k.better();
        return k.measuring;
    }

    /** Whether a lighter load class already measured plain decoding as the better mode. */
    private boolean lighterLoadsPreferPlain(int c) {
        for (int i = 0; i < c; i++) {
            LoadClass lighter = classes[i];
            if (lighter.measured[SPECULATING] && lighter.measured[PLAIN] && lighter.better() == PLAIN) return true;
        }
        return false;
    }

    @Override
    public String toString() {
        var b = new StringBuilder(speculate() ? "speculating" : "plain");
        for (int i = 0; i < CLASSES; i++) {
            LoadClass k = classes[i];
            if (k.verdicts[SPECULATING] == 0 && k.verdicts[PLAIN] == 0) continue;
            b.append(String.format(Locale.ROOT, "; load class %d: speculating %.1f, plain %.1f tokens per session-second", i, k.rate(SPECULATING),
                    k.rate(PLAIN)));
            if (k.measuring != NONE) b.append(k.measuring == SPECULATING ? " (measuring speculation)" : " (measuring plain)");
        }
        return b.toString();
    }
}
