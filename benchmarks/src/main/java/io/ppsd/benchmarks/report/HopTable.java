package io.ppsd.benchmarks.report;

import java.util.List;
import java.util.Locale;

/** The Markdown section of {@code results.md} on actor messaging per stage hop. */
public final class HopTable {
    public static final String HEADING = "### Actor messaging per stage hop";

    private HopTable() {}

    public static String markdown(List<HopRow> rows) {
        if (rows.isEmpty()) return "";
        StringBuilder sb = new StringBuilder("\n" + HEADING + "\n\n");
        sb.append("Probes sent one at a time around the idle pipeline (stage 0 → 1 → … → last → 0), each hop timed from the sender's send "
                + "to the receiver's handling: sharding, mailbox, dispatcher wake-up and, between JVMs, serialization and loopback TCP.\n\n");
        sb.append("| configuration | transport | JVMs | payload | hop | hops | median µs | p99 µs | max µs |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|\n");
        for (HopRow r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %s | %s | %d | %.1f | %.1f | %.1f |%n", r.config(), r.transport(), r.jvms(),
                    bytes(r.payloadBytes()), r.kind(), r.hops(), r.medianMicros(), r.p99Micros(), r.maxMicros()));
        }
        return sb.toString();
    }

    static String bytes(int b) {
        return b >= 1024 ? (b / 1024) + " KiB" : b + " B";
    }
}
