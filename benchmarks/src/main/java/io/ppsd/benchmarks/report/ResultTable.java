package io.ppsd.benchmarks.report;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The Markdown summary a run writes next to its data ({@code results.md}), ready to paste into the
 * README: the PPSD rows with their targets, the best EESD per head and E beside PPSD, and all rows.
 */
public final class ResultTable {
    private ResultTable() {}

    public static String markdown(List<ResultRow> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("### PPSD against theory\n\n");
        sb.append("| device | transport | head | E | stages | α | tok/s | AR tok/s | speedup | ρ* | measured/ρ* | profile bound | measured/bound | target | best EESD (γ) | PPSD/best EESD |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (ResultRow r : rows) {
            if (!r.strategy().equals("ppsd")) continue;
            Optional<ResultRow> best = bestEesd(rows, r);
            double target = r.device().equals("cpu") ? 0.85 : 0.95;
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %d | %d | %.2f | %.1f | %.1f | %.2fx | %.2fx | **%.2f** %s | %s | %s | ≥ %.2f | %s | %s |%n",
                    r.device(), r.transport(), r.head(), r.exitLayer(), r.stages(), r.alpha(), r.tokensPerSecond(), r.arTokensPerSecond(),
                    r.speedup(), r.theory(), r.ratioToTheory(), r.ratioToTheory() >= target ? "✓" : "✗",
                    fmt(r.profileBound(), "%.2fx"), fmt(r.ratioToProfileBound(), "%.2f"), target,
                    best.map(b -> String.format(Locale.ROOT, "%.2fx (γ=%d)", b.speedup(), b.gamma())).orElse("-"),
                    best.map(b -> String.format(Locale.ROOT, "%.2f %s", r.speedup() / b.speedup(), r.speedup() > b.speedup() ? "✓" : "✗")).orElse("-")));
        }
        sb.append("\n### All configurations\n\n");
        sb.append("| configuration | tok/s | AR tok/s | speedup (min–max) | α | tokens/step | wasted/token | theory | measured/theory | profile bound | outputs = AR | host compute share |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (ResultRow r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %.2fx (%.2f–%.2f) | %s | %s | %s | %s %.2fx | %.2f | %s | %s | %s |%n",
                    r.id(), r.tokensPerSecond(), r.arTokensPerSecond(), r.speedup(), r.speedupMin(), r.speedupMax(),
                    fmt(r.alpha(), "%.2f"), fmt(r.tokensPerStep(), "%.2f"), fmt(r.wastedStageStepsPerToken(), "%.2f"),
                    r.theoryName(), r.theory(), r.ratioToTheory(), fmt(r.profileBound(), "%.2fx"), r.outputsMatchAr() ? "yes" : "**no**",
                    fmt(r.maxComputeShare(), "%.2f")));
        }
        return sb.toString();
    }

    /** The fastest EESD with the same device, head and exit layer as a PPSD row. */
    public static Optional<ResultRow> bestEesd(List<ResultRow> rows, ResultRow ppsd) {
        return rows.stream().filter(r -> r.strategy().equals("eesd") && r.device().equals(ppsd.device())
                        && r.head().equals(ppsd.head()) && r.exitLayer() == ppsd.exitLayer())
                .max(Comparator.comparingDouble(ResultRow::speedup));
    }

    /** EESD rows grouped by device, head and E (series of the γ sweep). */
    public static Map<String, List<ResultRow>> eesdSweeps(List<ResultRow> rows, String device) {
        Map<String, List<ResultRow>> m = new LinkedHashMap<>();
        for (ResultRow r : rows) {
            if (r.strategy().equals("eesd") && r.device().equals(device)) {
                m.computeIfAbsent(r.head() + " E=" + r.exitLayer(), k -> new ArrayList<>()).add(r);
            }
        }
        return m;
    }

    private static String fmt(double v, String f) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, f, v);
    }
}
