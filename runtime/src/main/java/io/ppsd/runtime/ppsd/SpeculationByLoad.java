package io.ppsd.runtime.ppsd;

/**
 * Stage 0's choice over time between PPSD drafting (up to the draft window of positions in flight)
 * and plain pipelined decoding (one position in flight: every stage busy with different sessions'
 * tokens, nothing thrown away), for the sequences whose {@link DraftWindow} has {@code byLoad}.
 *
 * <p>Measured, not modelled. A first version compared a cost model of stage 0's calls
 * (e·S·c(k/S) ≥ c(k)); on the benchmark host it kept speculating where plain pipelining was 15–45 %
 * faster, because the work a thrown-away row costs is spread over every stage and the host, not in
 * stage 0's call times. So stage 0 measures what both modes deliver: time is cut into periods of
 * {@value #PERIOD_CALLS} stage-0 calls (or {@value #MIN_PERIOD_CALLS} once half a second has
 * passed, for slow calls); in each, one mode holds, and the rate of verdicts on by-load sequences
 * (each verdict commits exactly one token) over the period's second half (the first lets the
 * positions in flight of the previous mode drain) is that mode's throughput.
 *
 * <p>Per load. Which mode wins depends on how many sequences share the stages (speculation fills
 * stage time that is idle at low load and takes it from other sessions' tokens at high load), so
 * the measurements are kept per <em>load class</em> — the number of decoding sequences at stage 0,
 * in powers of two (1, 2, 3–4, 5–8, …) — and a period counts for its class only if the load stayed
 * in it. A class with nothing measured starts in the mode a lighter class found better when that
 * was plain decoding (speculation only loses more as load grows), else speculating. Once both modes
 * are measured the better one holds and the other is re-measured after an interval that doubles
 * each time it is confirmed worse (from {@value #FIRST_INTERVAL} to {@value #MAX_INTERVAL}
 * periods) and starts over when the order flips: at steady load the worse mode costs at most one
 * period in {@value #MAX_INTERVAL}, and a drift of acceptance is still noticed. Tokens never change
 * either way.
 */
final class SpeculationByLoad {
    static final int PERIOD_CALLS = 48;
    /** Slow calls (a large model on few cores) end a period after this many calls once it has lasted {@link #PERIOD_NANOS}. */
    static final int MIN_PERIOD_CALLS = 12;
    static final long PERIOD_NANOS = 500_000_000L;
    static final int FIRST_INTERVAL = 4;
    static final int MAX_INTERVAL = 32;
    static final int CLASSES = 8; // loads 1, 2, 3–4, …, 65 and more
    private static final int SPECULATING = 0, PLAIN = 1;
    private static final double RATE = 0.4;

    /** What is known at one load class. */
    private static final class LoadClass {
        final double[] tokensPerSecond = {Double.NaN, Double.NaN}; // [speculating, plain]
        int periods; // measured periods
        int interval = FIRST_INTERVAL;
        int nextCheck = -1; // the measured period after which the worse mode is re-measured; -1: none due yet
        boolean checking; // the period now running re-measures the worse mode

        boolean measured(int mode) {
            return !Double.isNaN(tokensPerSecond[mode]);
        }

        int better() {
            return tokensPerSecond[SPECULATING] >= tokensPerSecond[PLAIN] ? SPECULATING : PLAIN;
        }
    }

    private final LoadClass[] classes = new LoadClass[CLASSES];
    private int mode = SPECULATING;
    private int periodClass = -1;
    private boolean stayedInClass;
    private long periodStart;
    private int calls;
    private long measureStart;
    private int verdicts;
    private boolean active;
    private boolean measuring;

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
        if (measuring) verdicts++;
        active = true;
    }

    /**
     * One stage-0 call ended at {@code now}; {@code byLoadRows} of its rows were by-load sequences';
     * {@code load} sequences were decoding at stage 0 (by load or not: all of them share the stages).
     */
    void call(int byLoadRows, int load, long now) {
        int c = loadClass(load);
        if (calls == 0) {
            periodStart = now;
            if (c != periodClass) {
                periodClass = c; // the first call of a period at a new load: choose for it
                mode = choose(classes[c]);
            }
            stayedInClass = true;
        }
        if (c != periodClass) stayedInClass = false;
        if (byLoadRows > 0) active = true;
        calls++;
        boolean longEnough = calls >= PERIOD_CALLS || (calls >= MIN_PERIOD_CALLS && now - periodStart >= PERIOD_NANOS);
        if (!measuring && (calls >= PERIOD_CALLS / 2 || (calls >= MIN_PERIOD_CALLS / 2 && now - periodStart >= PERIOD_NANOS / 2))) {
            measuring = true;
            measureStart = now;
            verdicts = 0;
        }
        if (!longEnough) return;
        LoadClass k = classes[periodClass];
        if (active && stayedInClass && now > measureStart) record(k, verdicts * 1e9 / (now - measureStart));
        periodClass = c;
        mode = choose(classes[c]);
        calls = 0;
        active = false;
        measuring = false;
    }

    private void record(LoadClass k, double rate) {
        int before = k.measured(SPECULATING) && k.measured(PLAIN) ? k.better() : -1;
        double[] r = k.tokensPerSecond;
        r[mode] = Double.isNaN(r[mode]) ? rate : r[mode] + RATE * (rate - r[mode]);
        k.periods++;
        if (!(k.measured(SPECULATING) && k.measured(PLAIN))) return;
        if (k.checking) {
            // The worse mode was re-measured: confirmed worse, wait twice as long next time; better now, start over.
            k.interval = k.better() == before ? Math.min(MAX_INTERVAL, 2 * k.interval) : FIRST_INTERVAL;
            k.checking = false;
            k.nextCheck = k.periods + k.interval;
        } else if (k.nextCheck < 0) {
            k.nextCheck = k.periods + k.interval; // both modes just got their first measurement
        } else if (before >= 0 && k.better() != before) {
            k.interval = FIRST_INTERVAL; // the held mode fell behind the other's last measurement
            k.nextCheck = k.periods + k.interval;
        }
    }

    private int choose(LoadClass k) {
        if (!k.measured(SPECULATING) && !k.measured(PLAIN)) return lighterLoadsPreferPlain(k) ? PLAIN : SPECULATING;
        if (!k.measured(SPECULATING)) return SPECULATING;
        if (!k.measured(PLAIN)) return PLAIN;
        int better = k.better();
        k.checking = k.periods >= k.nextCheck;
        return k.checking ? 1 - better : better;
    }

    /** Whether a lighter load class already measured plain decoding as the better mode. */
    private boolean lighterLoadsPreferPlain(LoadClass k) {
        for (LoadClass lighter : classes) {
            if (lighter == k) return false;
            if (lighter.measured(SPECULATING) && lighter.measured(PLAIN) && lighter.better() == PLAIN) return true;
        }
        return false;
    }

    @Override
    public String toString() {
        var b = new StringBuilder(speculate() ? "speculating" : "plain");
        for (int i = 0; i < CLASSES; i++) {
            LoadClass k = classes[i];
            if (k.periods == 0) continue;
            b.append(String.format(java.util.Locale.ROOT, "; load class %d: speculating %.1f tok/s, plain %.1f tok/s", i,
                    k.tokensPerSecond[SPECULATING], k.tokensPerSecond[PLAIN]));
        }
        return b.toString();
    }
}
