package io.ppsd.actors.http;

import java.util.List;

/**
 * Keeps stop strings out of streamed text, as OpenAI's API does: text that could still become the
 * start of a stop string is held back until the next piece decides, and when a stop string
 * completes, it and everything after it are dropped.
 */
final class StopStringFilter {
    private final List<String> stops;
    private final int holdBack;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    StopStringFilter(List<String> stops) {
        this.stops = stops == null ? List.of() : stops;
        this.holdBack = this.stops.stream().mapToInt(String::length).max().orElse(1) - 1;
    }

    /** The text that is safe to send now after {@code piece} arrived (maybe empty). */
    String accept(String piece) {
        if (stopped) return "";
        pending.append(piece);
        int cut = firstStop();
        if (cut >= 0) {
            stopped = true;
            String out = pending.substring(0, cut);
            pending.setLength(0);
            return out;
        }
        int safe = pending.length() - holdBack;
        if (safe <= 0) return "";
        String out = pending.substring(0, safe);
        pending.delete(0, safe);
        return out;
    }

    /** What is still held back, at the end of the output. */
    String flush() {
        if (stopped) return "";
        int cut = firstStop();
        String out = cut >= 0 ? pending.substring(0, cut) : pending.toString();
        pending.setLength(0);
        return out;
    }

    /** The whole text of a finished generation with its stop string (and what follows) removed. */
    static String trim(String text, List<String> stops) {
        int cut = -1;
        for (String s : stops == null ? List.<String>of() : stops) {
            int i = text.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        return cut < 0 ? text : text.substring(0, cut);
    }

    private int firstStop() {
        int cut = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        return cut;
    }
}
