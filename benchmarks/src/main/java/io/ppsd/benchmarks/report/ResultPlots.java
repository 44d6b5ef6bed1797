package io.ppsd.benchmarks.report;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** PNG plots of a run (XChart, headless). Returns the files written. */
public final class ResultPlots {
    /** One color per head and E, shared by its EESD curve and its PPSD line. */
    private static final java.awt.Color[] PALETTE = {
        new java.awt.Color(0x1f77b4), new java.awt.Color(0xff7f0e), new java.awt.Color(0x2ca02c), new java.awt.Color(0xd62728),
        new java.awt.Color(0x9467bd), new java.awt.Color(0x8c564b), new java.awt.Color(0xe377c2), new java.awt.Color(0x7f7f7f),
        new java.awt.Color(0xbcbd22), new java.awt.Color(0x17becf)};

    private ResultPlots() {}

    public static List<Path> write(Path dir, List<ResultRow> rows) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Path> written = new ArrayList<>();
        List<ResultRow> ppsd = rows.stream().filter(r -> r.strategy().equals("ppsd")).toList();
        if (!ppsd.isEmpty()) {
            written.add(save(ppsdVersusTheory(ppsd), dir.resolve("ppsd-vs-theory")));
            written.add(save(ppsdVersusEesd(rows, ppsd), dir.resolve("ppsd-vs-best-eesd")));
        }
        for (String device : new LinkedHashSet<>(rows.stream().map(ResultRow::device).toList())) {
            Map<String, List<ResultRow>> sweeps = ResultTable.eesdSweeps(rows, device);
            if (!sweeps.isEmpty()) written.add(save(eesdSweep(device, sweeps, ppsd), dir.resolve("eesd-gamma-" + device.replace(':', '-'))));
        }
        List<ResultRow> speculative = rows.stream().filter(r -> !r.strategy().equals("ar")).toList();
        if (!speculative.isEmpty()) written.add(save(measuredVersusTheory(speculative), dir.resolve("measured-vs-theory")));
        return written;
    }

    /**
     * Median and p99 latency of each kind of actor stage hop, per configuration and payload, on a
     * log scale (rows without both figures are left out); null when no row has them.
     */
    public static Path writeHops(Path dir, List<HopRow> all) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<HopRow> hops = all.stream().filter(h -> h.medianMicros() > 0 && h.p99Micros() > 0).toList(); // NaN fails too
        if (hops.isEmpty()) return null;
        CategoryChart c = new CategoryChartBuilder().width(1100).height(900).title("Actor messaging per stage hop (idle pipeline, probes; log scale)")
                .xAxisTitle("configuration, hop kind, payload").yAxisTitle("µs per hop").build();
        List<String> x = hops.stream().map(h -> h.config().replaceFirst("^ppsd/", "") + " " + h.kind() + " " + HopTable.bytes(h.payloadBytes())).toList();
        c.addSeries("median", x, hops.stream().map(h -> (Number) h.medianMicros()).toList());
        c.addSeries("p99", x, hops.stream().map(h -> (Number) h.p99Micros()).toList());
        style(c);
        c.getStyler().setXAxisLabelRotation(90);
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setDefaultSeriesRenderStyle(org.knowm.xchart.CategorySeries.CategorySeriesRenderStyle.Scatter); // bars cannot start at 0 on a log axis
        c.getStyler().setYAxisDecimalPattern("0");
        return save(c, dir.resolve("actor-hops"));
    }

    /**
     * Measured/ρ* of the PPSD configurations that every run measured, one series per run (e.g. the
     * same suite with different draft windows), written to {@code file} (without extension).
     */
    public static Path compareRuns(Map<String, List<ResultRow>> runs, Path file) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<String> ids = runs.values().iterator().next().stream().filter(r -> r.strategy().equals("ppsd")).map(ResultRow::id)
                .filter(id -> runs.values().stream().allMatch(rows -> rows.stream().anyMatch(r -> r.id().equals(id)))).toList();
        if (ids.isEmpty()) throw new IllegalArgumentException("the runs have no PPSD configuration in common");
        CategoryChart c = new CategoryChartBuilder().width(1100).height(700).title("PPSD measured/ρ* by run")
                .xAxisTitle("configuration").yAxisTitle("measured / ρ*").build();
        List<String> x = ids.stream().map(id -> id.replaceFirst("^ppsd/", "")).toList();
        for (var run : runs.entrySet()) {
            c.addSeries(run.getKey(), x, ids.stream().map(id -> (Number) run.getValue().stream().filter(r -> r.id().equals(id))
                    .findFirst().orElseThrow().ratioToTheory()).toList());
        }
        style(c);
        c.getStyler().setXAxisLabelRotation(90);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        c.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        return save(c, file);
    }

    private static CategoryChart ppsdVersusTheory(List<ResultRow> ppsd) {
        CategoryChart c = new CategoryChartBuilder().width(1000).height(640).title("PPSD: measured speedup over AR vs theory at the measured α")
                .xAxisTitle("configuration").yAxisTitle("speedup over AR (×)").build();
        List<String> x = ppsd.stream().map(ResultPlots::label).toList();
        c.addSeries("measured", x, ppsd.stream().map(r -> (Number) r.speedup()).toList());
        c.addSeries("ρ* (layer passes)", x, ppsd.stream().map(r -> (Number) r.theory()).toList());
        if (ppsd.stream().anyMatch(r -> !Double.isNaN(r.profileBound()))) {
            c.addSeries("bound with the profile's head/LM-head costs", x, ppsd.stream().map(r -> (Number) (Double.isNaN(r.profileBound()) ? 0.0 : r.profileBound())).toList());
        }
        style(c);
        c.getStyler().setXAxisLabelRotation(90);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        c.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        return c;
    }

    private static CategoryChart ppsdVersusEesd(List<ResultRow> rows, List<ResultRow> ppsd) {
        CategoryChart c = new CategoryChartBuilder().width(1000).height(640).title("PPSD vs the best EESD (same device, head, E)")
                .xAxisTitle("configuration").yAxisTitle("speedup over AR (×)").build();
        List<String> x = new ArrayList<>();
        List<Number> p = new ArrayList<>(), e = new ArrayList<>();
        for (ResultRow r : ppsd) {
            Optional<ResultRow> best = ResultTable.bestEesd(rows, r);
            if (best.isEmpty()) continue;
            x.add(label(r));
            p.add(r.speedup());
            e.add(best.get().speedup());
        }
        if (x.isEmpty()) {
            x.add("none");
            p.add(0);
            e.add(0);
        }
        c.addSeries("PPSD", x, p);
        c.addSeries("best EESD (γ=1..8)", x, e);
        style(c);
        c.getStyler().setXAxisLabelRotation(90);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        c.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        return c;
    }

    private static XYChart eesdSweep(String device, Map<String, List<ResultRow>> sweeps, List<ResultRow> ppsd) {
        XYChart c = new XYChartBuilder().width(1100).height(560).title("EESD speedup over AR vs draft length γ (" + device + "); dashed: PPSD, same head and E")
                .xAxisTitle("γ").yAxisTitle("speedup over AR (×)").build();
        int i = 0;
        for (var e : sweeps.entrySet()) {
            java.awt.Color color = PALETTE[i++ % PALETTE.length];
            double[] g = e.getValue().stream().mapToDouble(ResultRow::gamma).toArray();
            double[] s = e.getValue().stream().mapToDouble(ResultRow::speedup).toArray();
            XYSeries series = c.addSeries("EESD " + e.getKey(), g, s);
            series.setMarker(SeriesMarkers.CIRCLE);
            series.setLineColor(color);
            series.setMarkerColor(color);
            ResultRow first = e.getValue().getFirst();
            ppsd.stream().filter(r -> r.device().equals(device) && r.head().equals(first.head()) && r.exitLayer() == first.exitLayer())
                    .findFirst().ifPresent(r -> {
                        XYSeries line = c.addSeries("PPSD " + e.getKey() + " (" + r.stages() + " stages)", new double[] {g[0], g[g.length - 1]},
                                new double[] {r.speedup(), r.speedup()});
                        line.setMarker(SeriesMarkers.NONE);
                        line.setLineStyle(SeriesLines.DASH_DASH);
                        line.setLineColor(color);
                    });
        }
        style(c);
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        return c;
    }

    private static XYChart measuredVersusTheory(List<ResultRow> rows) {
        XYChart c = new XYChartBuilder().width(700).height(600).title("Measured speedup vs theory at the measured α")
                .xAxisTitle("theory (ρ* or S_EESD)").yAxisTitle("measured").build();
        double hi = 1;
        for (String strategy : List.of("eesd", "ppsd")) {
            for (String device : new LinkedHashSet<>(rows.stream().map(ResultRow::device).toList())) {
                List<ResultRow> sel = rows.stream().filter(r -> r.strategy().equals(strategy) && r.device().equals(device)).toList();
                if (sel.isEmpty()) continue;
                double[] t = sel.stream().mapToDouble(ResultRow::theory).toArray();
                double[] m = sel.stream().mapToDouble(ResultRow::speedup).toArray();
                for (double v : t) hi = Math.max(hi, v);
                for (double v : m) hi = Math.max(hi, v);
                XYSeries s = c.addSeries(strategy.toUpperCase() + " " + device, t, m);
                s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            }
        }
        XYSeries diag = c.addSeries("measured = theory", new double[] {0, hi * 1.05}, new double[] {0, hi * 1.05});
        diag.setMarker(SeriesMarkers.NONE);
        diag.setLineStyle(SeriesLines.DASH_DASH);
        style(c);
        return c;
    }

    private static String label(ResultRow r) {
        return r.device() + " " + r.head() + " E=" + r.exitLayer() + " S=" + r.stages() + (r.transport().equals("in-process") ? "" : " " + r.transport());
    }

    private static void style(org.knowm.xchart.internal.chartpart.Chart<?, ?> c) {
        Styler s = c.getStyler();
        s.setLegendPosition(Styler.LegendPosition.InsideNW);
        s.setChartBackgroundColor(java.awt.Color.WHITE);
        if (s instanceof org.knowm.xchart.style.AxesChartStyler a) {
            a.setYAxisDecimalPattern("0.00");
            if (!(c instanceof CategoryChart)) a.setXAxisDecimalPattern("0.##");
        }
    }

    private static Path save(org.knowm.xchart.internal.chartpart.Chart<?, ?> chart, Path withoutExtension) throws IOException {
        BitmapEncoder.saveBitmap(chart, withoutExtension.toString(), BitmapEncoder.BitmapFormat.PNG);
        return withoutExtension.resolveSibling(withoutExtension.getFileName() + ".png");
    }
}
