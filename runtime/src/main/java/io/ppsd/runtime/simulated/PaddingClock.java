package io.ppsd.runtime.simulated;

/**
 * The time a {@link SimulatedLatencyExecutor} measures its calls with and pads them against. The
 * running one is {@link System#nanoTime()} with a {@link PrecisePause}; a test substitutes a clock
 * it moves itself, so the padding can be checked to the nanosecond on a loaded machine.
 */
interface PaddingClock {

    /** Now, in nanoseconds from an arbitrary origin, like {@link System#nanoTime()}. */
    long nanoTime();

    /** Returns at or after {@code deadline} (a {@link #nanoTime()} value); at once when it has passed. */
    void pauseUntil(long deadline);

    static PaddingClock system(PrecisePause pause) {
        return new SystemClock(pause);
    }

    /** The wall clock: System.nanoTime, waited on with a precise pause. */
    record SystemClock(PrecisePause pause) implements PaddingClock {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public void pauseUntil(long deadline) {
            pause.until(deadline);
        }
    }
}
