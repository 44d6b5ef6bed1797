package io.ppsd.runtime.stage;

import java.util.HashMap;
import java.util.Map;

/**
 * The memory a device may spend on KV caches, in blocks of {@link #BLOCK_POSITIONS} positions of
 * one stage's layers. A sequence reserves blocks for the most positions it may reach when it is
 * admitted ({@code prompt + max tokens}), so a generation that started never runs out of cache
 * memory later; a sequence that cannot get its blocks is refused with the reason
 * ({@link Exceeded}), never an out-of-memory. Rollback keeps the reservation (the sequence will
 * grow again); release returns it. Thread-safe: the stages of one device (or, on CPU, of one
 * heap) share a budget.
 */
public final class KvBudget {
    /** Positions per block: the granularity of reservations. */
    public static final int BLOCK_POSITIONS = 16;

    /** A sequence cannot get the blocks it needs: the device is full for now. */
    public static final class Exceeded extends IllegalStateException {
        Exceeded(String message) {
            super(message);
        }
    }

    private final String name;
    private final long bytes;
    /** Per reserving stage (by identity) and sequence: {blocks, bytes per block}. */
    private final Map<Object, Map<Long, long[]>> reservations = new java.util.IdentityHashMap<>();
    private long reservedBytes;

    private KvBudget(String name, long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("a KV-cache budget must be > 0 bytes, got " + bytes);
        this.name = name;
        this.bytes = bytes;
    }

    public static KvBudget of(String name, long bytes) {
        return new KvBudget(name, bytes);
    }

    /** No limit but the process's: for tools and tests that size things themselves. */
    public static KvBudget unlimited() {
        return new KvBudget("unlimited", Long.MAX_VALUE);
    }

    /**
     * Makes {@code owner}'s reservation for {@code seq} cover {@code positions} positions at
     * {@code bytesPerPosition} (the owner's layers); never shrinks it. Throws {@link Exceeded},
     * leaving the reservation as it was, when the budget cannot cover it.
     */
    public synchronized void reserve(Object owner, long seq, int positions, long bytesPerPosition) {
        Map<Long, long[]> own = reservations.computeIfAbsent(owner, o -> new HashMap<>());
        long blocks = (positions + BLOCK_POSITIONS - 1) / BLOCK_POSITIONS;
        long blockBytes = bytesPerPosition * BLOCK_POSITIONS;
        long[] held = own.get(seq);
        long have = held == null ? 0 : held[0];
        if (blocks <= have) return;
        long more = (blocks - have) * blockBytes;
        if (reservedBytes + more > bytes || reservedBytes + more < 0) {
            throw new Exceeded("the KV-cache budget of " + name + " (" + mib(bytes) + " MiB) cannot hold " + positions + " more positions of "
                    + "sequence " + seq + ": " + mib(reservedBytes) + " MiB are reserved by " + sequences() + " sequence(s); retry later");
        }
        reservedBytes += more;
        own.put(seq, new long[] {blocks, blockBytes});
    }

    /** Returns everything {@code owner} reserved for {@code seq}. */
    public synchronized void release(Object owner, long seq) {
        Map<Long, long[]> own = reservations.get(owner);
        long[] held = own == null ? null : own.remove(seq);
        if (held != null) reservedBytes -= held[0] * held[1];
        if (own != null && own.isEmpty()) reservations.remove(owner);
    }

    /** Returns everything {@code owner} reserved (it closes). */
    public synchronized void releaseAll(Object owner) {
        Map<Long, long[]> own = reservations.remove(owner);
        if (own != null) for (long[] held : own.values()) reservedBytes -= held[0] * held[1];
    }

    private static volatile KvBudget heap;

    /**
     * The budget all CPU stages of this JVM share: {@code ppsd.kv-cache.budget} bytes when set, else
     * {@code ppsd.kv-cache.heap-fraction} of the maximum heap.
     */
    public static KvBudget javaHeap() {
        KvBudget b = heap;
        if (b != null) return b;
        synchronized (KvBudget.class) {
            if (heap == null) {
                var c = com.typesafe.config.ConfigFactory.load().getConfig("ppsd.kv-cache");
                long bytes;
                if (c.hasPath("budget")) {
                    bytes = c.getBytes("budget");
                } else {
                    double fraction = c.getDouble("heap-fraction");
                    if (!(fraction > 0 && fraction <= 1)) throw new IllegalArgumentException("ppsd.kv-cache.heap-fraction must be in (0, 1], got " + fraction);
                    bytes = (long) (fraction * Runtime.getRuntime().maxMemory());
                }
                heap = new KvBudget("the Java heap", bytes);
            }
            return heap;
        }
    }

    public synchronized long reservedBytes() {
        return reservedBytes;
    }

    public long totalBytes() {
        return bytes;
    }

    /** Reservations held (one per stage and sequence). */
    public synchronized int sequences() {
        int n = 0;
        for (Map<Long, long[]> own : reservations.values()) n += own.size();
        return n;
    }

    private static long mib(long b) {
        return b == Long.MAX_VALUE ? -1 : b >> 20;
    }

    @Override
    public String toString() {
        return "KvBudget(" + name + ", " + mib(reservedBytes()) + " of " + mib(bytes) + " MiB reserved)";
    }
}
