package io.ppsd.runtime.ppsd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The adaptive window's arithmetic on synthetic timelines (nanosecond stamps chosen by the test). */
class DraftPacingTest {
    private static final long MS = 1_000_000;

    /** Stage 0 drafts one position per 1 ms call; every verdict comes 3.5 ms after its draft left, finding stage 0 idle. */
    private static DraftPacing steady(boolean accept, int verdicts) {
        var p = new DraftPacing();
        long t = 0;
        for (int i = 0; i < verdicts; i++) {
            p.callStarted(t);
            p.callEnded(t + MS);
            long sent = t + MS;
            p.idle();
            p.verdict(sent, sent + 3 * MS + MS / 2, accept);
            t = sent + 4 * MS;
        }
        return p;
    }

    @Test
    void fixedWindowsAreKept() {
        assertEquals(4, new DraftPacing().positions(DraftWindow.fixed(4)));
        assertEquals(4, steady(false, 50).positions(DraftWindow.fixed(4)));
        assertThrows(IllegalArgumentException.class, () -> DraftWindow.fixed(0));
    }

    @Test
    void oneInFlightUntilARoundTripIsMeasured() {
        assertEquals(1, new DraftPacing().positions(DraftWindow.adaptive(6)));
    }

    @Test
    void windowFollowsRoundTripOverCallTimeAndAcceptance() {
        // L/t0 = 3.5: with drafts always rejected W = 1 + ⌊3.5 + 0⌋ = 4, always accepted 1 + ⌊3.5 + 1⌋ = 5.
        assertEquals(4, steady(false, 200).positions(DraftWindow.adaptive(10)));
        assertEquals(5, steady(true, 200).positions(DraftWindow.adaptive(10)));
        assertEquals(3, steady(true, 200).positions(DraftWindow.adaptive(3)), "never above the maximum");
    }

    @Test
    void busyVerdictsDoNotMeasureButShrinkTheWindowToRemeasure() {
        DraftPacing p = steady(false, 200);
        long t = 10_000 * MS;
        for (int i = 0; i < 15; i++) {
            // The verdict arrives during the next call: handled right after it, not measured.
            p.callStarted(t);
            p.callEnded(t + MS);
            long sent = t + MS;
            p.callStarted(sent);
            p.callEnded(sent + MS);
            p.verdict(sent, sent + MS + 1000, false);
            t = sent + 2 * MS;
        }
        assertEquals(4, p.positions(DraftWindow.adaptive(10)), "15 busy verdicts: round trip still 3.5 ms");
        p.callStarted(t);
        p.callEnded(t + MS);
        p.callStarted(t + MS);
        p.callEnded(t + 2 * MS);
        p.verdict(t + MS, t + 2 * MS + 1000, false);
        assertEquals(3, p.positions(DraftWindow.adaptive(10)), "16 busy verdicts in a row: one fewer until an idle one");
        p.idle();
        p.verdict(t + 2 * MS, t + 5 * MS + MS / 2, false);
        assertEquals(4, p.positions(DraftWindow.adaptive(10)));
    }
}
