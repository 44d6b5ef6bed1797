package io.ppsd.benchmarks.serve;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

/** The serve suite's plots: latency and throughput against the number of concurrent clients, per front end. */
final class ServePlots {
    private ServePlots() {}

    static void write(Path dir, List<LatencyRow> rows) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart latency = new XYChartBuilder().width(900).height(560).title("Latency seen by a client (p50 solid, p99 dashed)")
                .xAxisTitle("concurrent clients").yAxisTitle("ms").build();
        XYChart throughput = new XYChartBuilder().width(900).height(560).title("Aggregate throughput")
                .xAxisTitle("concurrent clients").yAxisTitle("tokens/s").build();
        for (String front : List.of("actors", "http")) {
            List<LatencyRow> r = rows.stream().filter(x -> x.frontEnd().equals(front)).toList();
            if (r.isEmpty()) continue;
            double[] c = r.stream().mapToDouble(LatencyRow::concurrency).toArray();
            latency.addSeries(front + " inter-token p50", c, r.stream().mapToDouble(LatencyRow::itlP50Ms).toArray());
            latency.addSeries(front + " inter-token p99", c, r.stream().mapToDouble(LatencyRow::itlP99Ms).toArray())
                    .setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
            latency.addSeries(front + " first token p50", c, r.stream().mapToDouble(LatencyRow::ttftP50Ms).toArray());
            throughput.addSeries(front, c, r.stream().mapToDouble(LatencyRow::tokensPerSecond).toArray());
        }
        for (XYChart chart : List.of(latency, throughput)) {
            chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
            chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
            chart.getStyler().setXAxisLogarithmic(true);
            chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        }
        latency.getStyler().setYAxisLogarithmic(true);
        BitmapEncoder.saveBitmap(latency, dir.resolve("serve-latency").toString(), BitmapEncoder.BitmapFormat.PNG);
        BitmapEncoder.saveBitmap(throughput, dir.resolve("serve-throughput").toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
