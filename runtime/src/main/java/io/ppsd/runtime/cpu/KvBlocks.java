package io.ppsd.runtime.cpu;

import java.util.ArrayDeque;

/**
 * The KV blocks of one stage's {@link KvCache}s (all of one size: {@link KvCache#BLOCK} positions
 * of {@code kvDim} floats): how many they hold, and a short free list. A rollback hands back the
 * blocks past its new length and the sequence grows again at once, so those go to the free list
 * (at most {@value #FREE_LIST} blocks) and the regrowth takes them back instead of allocating; a
 * released sequence's blocks go to the garbage collector. What the budget reserves bounds the
 * blocks held; a count above the caches' own once their sequences are released is a leak.
 */
public final class KvBlocks {
    static final int FREE_LIST = 256;
    private final ArrayDeque<float[]> free = new ArrayDeque<>();
    private long held;

    /** A zeroed-or-reused block of {@code floats} floats (stale rows are never read: the length says what is valid). */
    synchronized float[] take(int floats) {
        held++;
        float[] b = free.poll();
        return b != null && b.length == floats ? b : new float[floats];
    }

    /** A block back from a truncation ({@code keep}: onto the free list) or a release. */
    synchronized void give(float[] block, boolean keep) {
        held--;
        if (keep && free.size() < FREE_LIST) free.push(block);
    }

    /** Blocks held by caches now. */
    public synchronized long held() {
        return held;
    }
}
