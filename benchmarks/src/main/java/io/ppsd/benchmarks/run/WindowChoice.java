package io.ppsd.benchmarks.run;

import io.ppsd.runtime.ppsd.DraftWindow;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The PPSD draft window of a run, relative to each configuration's stage count S: {@code adaptive}
 * (the runtime's default, adaptive up to S + 2), {@code adaptive:S+1}, or a fixed window
 * {@code S}, {@code S-1}, {@code S+2}, {@code 3} (never below 1).
 */
public record WindowChoice(String text, boolean adaptive, boolean relative, int positions) {
    private static final Pattern SIZE = Pattern.compile("S([+-]\\d+)?|(\\d+)");

    public static WindowChoice parse(String text) {
        String t = text.trim();
        boolean adaptive = t.equals("adaptive") || t.startsWith("adaptive:");
        String size = t.equals("adaptive") ? "S+2" : adaptive ? t.substring("adaptive:".length()) : t;
        Matcher m = SIZE.matcher(size);
        if (!m.matches()) throw new IllegalArgumentException("window '" + text + "': expected adaptive, adaptive:S+k, S, S+k, S-k or a number");
        if (m.group(2) != null) return new WindowChoice(t, adaptive, false, Integer.parseInt(m.group(2)));
        return new WindowChoice(t, adaptive, true, m.group(1) == null ? 0 : Integer.parseInt(m.group(1)));
    }

    public DraftWindow forStages(int stages) {
        int max = Math.max(1, relative ? stages + positions : positions);
        return adaptive ? DraftWindow.adaptive(max) : DraftWindow.fixed(max);
    }
}
