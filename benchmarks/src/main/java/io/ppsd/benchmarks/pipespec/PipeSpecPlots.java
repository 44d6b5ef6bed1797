package io.ppsd.benchmarks.pipespec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/** The PipeSpec suite's plot: speedup over AR per configuration, one panel per device, prose and code side by side. */
final class PipeSpecPlots {
    private PipeSpecPlots() {}

    static void write(Path dir, List<PipeSpecRow> rows, String prefix) throws IOException {
        System.setProperty("java.awt.headless", "true");
        for (String device : rows.stream().map(PipeSpecRow::device).distinct().toList()) {
            CategoryChart chart = new CategoryChartBuilder().width(1100).height(560).title("Speedup over AR on " + device + " (greedy)")
                    .xAxisTitle("configuration").yAxisTitle("× AR tokens/s").build();
            for (String corpus : List.of("prose", "code")) {
                var r = rows.stream().filter(x -> x.device().equals(device) && x.corpus().equals(corpus)).toList();
                if (r.isEmpty()) continue;
                chart.addSeries(corpus, r.stream().map(PipeSpecRow::config).toList(), r.stream().map(PipeSpecRow::speedup).toList());
            }
            chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
            chart.getStyler().setXAxisLabelRotation(30);
            chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
            String file = prefix + device.replaceAll("[^A-Za-z0-9]+", "-");
            BitmapEncoder.saveBitmap(chart, dir.resolve(file).toString(), BitmapEncoder.BitmapFormat.PNG);
        }
    }
}
