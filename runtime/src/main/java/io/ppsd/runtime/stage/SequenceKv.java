package io.ppsd.runtime.stage;

/**
 * The keys and values one sequence has cached in some layers of a stage, wherever they live (Java
 * heap, device memory): the bookkeeping — length, capacity, O(1) truncation — is here once; a
 * backend stores rows and says how its storage grows and what a truncation gives back.
 * Contiguous storage (a device allocation) doubles up to the context, but never past what the
 * sequence reserved in its {@link KvBudget}, so the memory held stays within the reservation; paged
 * storage grows and shrinks by whole blocks. {@link LayerStackExecutor} keeps one per sequence (and
 * one for a transformer exit head) and enforces the rules between calls.
 */
public abstract class SequenceKv implements AutoCloseable {
    private final int maxPositions;
    private int capacity;
    private int length;
    /** Positions this sequence holds in its stage's {@link KvBudget} (so calls within them skip the budget). */
    int budgeted;

    /** {@code capacity}: positions the backend's storage holds at first. */
    protected SequenceKv(int maxPositions, int capacity) {
        if (capacity < 1 || capacity > maxPositions) {
            throw new IllegalArgumentException("initial capacity " + capacity + " outside [1, " + maxPositions + "]");
        }
        this.maxPositions = maxPositions;
        this.capacity = capacity;
    }

    /** Moves the cached rows [0, length()) into storage for {@code newCapacity} positions. */
    protected abstract void grow(int newCapacity);

    /**
     * The capacity to grow to for {@code positions} positions: doubling (few copies of contiguous
     * storage), capped at the context and at the positions reserved in the budget, if any.
     */
    protected int grownCapacity(int positions) {
        long c = capacity;
        while (c < positions) c = 2L * c;
        int cap = budgeted >= positions ? budgeted : maxPositions;
        return (int) Math.max(positions, Math.min(c, Math.min(cap, maxPositions)));
    }

    /** After a truncation to {@code newLength}: what the storage holds now (default: it keeps its capacity). */
    protected int truncated(int newLength) {
        return capacity;
    }

    /** Positions cached: the next position to write. */
    public final int length() {
        return length;
    }

    /** Positions the storage has room for now. */
    public final int capacity() {
        return capacity;
    }

    public final int maxPositions() {
        return maxPositions;
    }

    /** Makes room for positions [0, positions); fails clearly past the context. */
    public final void reserve(int positions) {
        if (positions > maxPositions) {
            throw new IllegalArgumentException("position " + (positions - 1) + " exceeds the context of " + maxPositions + " positions");
        }
        if (positions <= capacity) return;
        int c = grownCapacity(positions);
        grow(c);
        capacity = c;
    }

    /** Marks positions [0, length) as written (after a compute call filled them). */
    public final void setLength(int length) {
        if (length < 0 || length > capacity) throw new IllegalArgumentException("length " + length + " outside the capacity " + capacity);
        this.length = length;
    }

    /** Forgets every position from {@code newLength} on (rollback); the stale rows are overwritten later. */
    public final void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " positions to " + newLength);
        }
        length = newLength;
        capacity = truncated(newLength);
    }

    /** Frees the storage (device memory); a heap cache needs nothing. */
    @Override
    public void close() {}
}
