package io.ppsd.runtime.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of CPU cores that one stage computes on: the calling thread plus {@code size - 1}
 * worker threads. {@link #parallelFor} splits an index range into one contiguous slice per core and
 * returns when all are done. Dispatch allocates nothing, so it can run per token.
 *
 * <p>Workers spin briefly for the next task (tokens arrive microseconds apart while decoding) and
 * then park, so an idle stage does not hold its cores.
 */
public final class CoreGroup implements AutoCloseable {
    /** A slice of work; {@code worker} indexes per-core scratch space. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int worker, int from, int to);
    }

    private static final int SPINS_BEFORE_PARK = 1 << 14;

    private final int size;
    private final Thread[] workers;
    private final AtomicInteger remaining = new AtomicInteger();
    private volatile long epoch;
    private volatile boolean closed;
    private RangeTask task;
    private int total;

    public CoreGroup(int size, String name) {
        if (size < 1) throw new IllegalArgumentException("a core group needs at least one core, got " + size);
        this.size = size;
        this.workers = new Thread[size - 1];
        for (int i = 0; i < workers.length; i++) {
            int worker = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name(name + "-core-" + worker).start(() -> workLoop(worker));
        }
    }

    public int size() {
        return size;
    }

    /**
     * Below this many multiply-adds a task runs on the calling thread: waking other cores costs
     * microseconds, more than a small matrix takes.
     */
    public static final long MIN_PARALLEL_WORK = 1L << 16;

    /** Runs {@code task} over [0, n) split across the cores; returns when every slice is done. */
    public void parallelFor(int n, RangeTask task) {
        parallelFor(n, Long.MAX_VALUE, task);
    }

    /** As {@link #parallelFor(int, RangeTask)}, inline when {@code work} (multiply-adds) is small. */
    public void parallelFor(int n, long work, RangeTask task) {
        if (size == 1 || n < 2 || work < MIN_PARALLEL_WORK) {
            task.run(0, 0, n);
            return;
        }
        this.task = task;
        this.total = n;
        remaining.set(workers.length);
        epoch++; // volatile write publishes task and total
        for (Thread w : workers) LockSupport.unpark(w);
        task.run(0, 0, sliceEnd(0, n));
        while (remaining.get() != 0) Thread.onSpinWait();
        this.task = null;
    }

    private int sliceEnd(int worker, int n) {
        return (int) ((long) n * (worker + 1) / size);
    }

    private void workLoop(int worker) {
        long seen = 0;
        while (true) {
            int spins = 0;
            while (epoch == seen) {
                if (closed) return;
                if (++spins < SPINS_BEFORE_PARK) Thread.onSpinWait();
                else LockSupport.park(this);
            }
            seen = epoch;
            int n = total;
            int from = sliceEnd(worker - 1, n), to = sliceEnd(worker, n);
            try {
                if (from < to) task.run(worker, from, to);
            } finally {
                remaining.decrementAndGet();
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
