package io.ppsd.benchmarks.concurrency;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

/** The concurrency suite's plots: aggregate throughput and inter-token latency against sessions, per setup, one series per mode. */
final class ConcurrencyPlots {
    private ConcurrencyPlots() {}

    static void write(Path dir, List<ConcurrencyRow> rows) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int k = 0;
        for (String setup : rows.stream().map(ConcurrencyRow::setup).distinct().toList()) {
            XYChart throughput = new XYChartBuilder().width(900).height(560).title("Aggregate throughput — " + setup)
                    .xAxisTitle("concurrent sessions").yAxisTitle("tokens/s").build();
            XYChart latency = new XYChartBuilder().width(900).height(560).title("Inter-token latency p50 (p99 dashed) — " + setup)
                    .xAxisTitle("concurrent sessions").yAxisTitle("ms").build();
            for (String mode : rows.stream().map(ConcurrencyRow::mode).distinct().toList()) {
                var r = rows.stream().filter(x -> x.setup().equals(setup) && x.mode().equals(mode)).toList();
                if (r.isEmpty()) continue;
                double[] c = r.stream().mapToDouble(ConcurrencyRow::concurrency).toArray();
                throughput.addSeries(mode, c, r.stream().mapToDouble(ConcurrencyRow::tokensPerSecond).toArray());
                latency.addSeries(mode + " p50", c, r.stream().mapToDouble(ConcurrencyRow::itlP50Ms).toArray());
                latency.addSeries(mode + " p99", c, r.stream().mapToDouble(ConcurrencyRow::itlP99Ms).toArray())
                        .setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
            }
            for (XYChart chart : List.of(throughput, latency)) {
                chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
                chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
                chart.getStyler().setXAxisLogarithmic(true);
                chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
            }
            latency.getStyler().setYAxisLogarithmic(true);
            k++;
            BitmapEncoder.saveBitmap(throughput, dir.resolve("concurrency-throughput-" + k).toString(), BitmapEncoder.BitmapFormat.PNG);
            BitmapEncoder.saveBitmap(latency, dir.resolve("concurrency-latency-" + k).toString(), BitmapEncoder.BitmapFormat.PNG);
        }
    }
}
