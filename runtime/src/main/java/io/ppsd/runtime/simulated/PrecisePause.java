package io.ppsd.runtime.simulated;

import java.util.concurrent.locks.LockSupport;

/**
 * Waits until a {@link System#nanoTime()} deadline with microsecond accuracy: parks until
 * {@code spinNanos} before it (parking alone overshoots by the kernel's timer slack and the wake-up
 * latency), then spins. The spin costs CPU, so it is kept as short as the accuracy allows.
 */
public record PrecisePause(long spinNanos) {

    public PrecisePause {
        if (spinNanos < 0) throw new IllegalArgumentException("spin must be ≥ 0 ns, got " + spinNanos);
    }

    /** Returns at or just after {@code deadline}; at once when it has passed. */
    public void until(long deadline) {
        long left;
        while ((left = deadline - System.nanoTime()) > spinNanos) {
            LockSupport.parkNanos(left - spinNanos);
        }
        while (System.nanoTime() - deadline < 0) Thread.onSpinWait();
    }
}
