package io.ppsd.benchmarks.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hop rows survive a CSV round trip (what {@code --replot} reads), and the plot and table are written from them. */
class ResultFilesTest {
    @TempDir
    Path tmp;

    @Test
    void hopRowsRoundTripThroughCsv() throws IOException {
        List<HopRow> rows = List.of(
                new HopRow("ppsd/sim:A100-13B/actors/norm/E2/S8", "actors", "sim:A100-13B", 8, 1, 512, "local", 3200, 9.6, 21.8, 6396.1),
                new HopRow("ppsd/cpu/actors-cluster/norm/E8/S2", "actors-cluster", "cpu", 2, 3, 20480, "remote", 800, 252.3, Double.NaN, 7470.6));
        Path csv = tmp.resolve("hops.csv");
        ResultFiles.writeCsv(csv, rows, HopRow.class);
        List<HopRow> back = ResultFiles.readCsv(csv, HopRow.class);
        assertEquals(rows.getFirst(), back.getFirst());
        assertEquals(rows.get(1).config(), back.get(1).config());
        assertTrue(Double.isNaN(back.get(1).p99Micros()), "an empty cell reads back as NaN");
        assertTrue(Files.size(ResultPlots.writeHops(tmp, back)) > 0);
        String md = HopTable.markdown(back);
        assertTrue(md.startsWith("\n" + HopTable.HEADING) && md.contains("| remote | 800 | 252.3 |"), md);

        Files.writeString(csv, "config,transport\nx,y\n");
        assertThrows(IOException.class, () -> ResultFiles.readCsv(csv, HopRow.class), "a missing column is an error");
    }
}
