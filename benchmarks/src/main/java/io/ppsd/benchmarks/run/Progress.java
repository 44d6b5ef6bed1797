package io.ppsd.benchmarks.run;

import java.io.PrintStream;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Progress of a suite on stderr: "[i/n] configuration … elapsed, ETA". The ETA uses the mean time
 * of configurations of the same kind done so far (a simulated 8-stage run and a CPU run differ by
 * an order of magnitude), else the overall mean.
 */
public final class Progress<T> {
    private final PrintStream out;
    private final List<T> items;
    private final Function<T, String> kind;
    private final long start = System.nanoTime();
    private final Map<String, double[]> perKind = new HashMap<>(); // kind -> {total seconds, count}
    private double total;
    private int done;

    public Progress(PrintStream out, List<T> items, Function<T, String> kind) {
        this.out = out;
        this.items = items;
        this.kind = kind;
    }

    public void starting(int index, String label) {
        out.printf(Locale.ROOT, "[%d/%d] %s  (elapsed %s, ETA %s)%n", index + 1, items.size(), label, clock(elapsed()), eta(index));
        out.flush();
    }

    public void finished(T item, double seconds, String summary) {
        done++;
        total += seconds;
        double[] k = perKind.computeIfAbsent(kind.apply(item), x -> new double[2]);
        k[0] += seconds;
        k[1]++;
        out.printf(Locale.ROOT, "        %s  (%.1f s)%n", summary, seconds);
        out.flush();
    }

    private String eta(int index) {
        if (done == 0) return "?";
        double left = 0;
        for (int i = index; i < items.size(); i++) {
            double[] k = perKind.get(kind.apply(items.get(i)));
            left += k != null ? k[0] / k[1] : total / done;
        }
        return clock(left);
    }

    private double elapsed() {
        return (System.nanoTime() - start) / 1e9;
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
