package io.ppsd.runtime.tokenizer;

/**
 * Open-addressing map from a token pair (two ids packed into a long) to its merge rank and the id
 * of the merged token. A HashMap&lt;Long, ...&gt; over LLaMA-3's 280k merges costs tens of MB of
 * boxes and a pointer chase per lookup; this is two flat arrays.
 */
final class MergeTable {
    private static final long EMPTY = -1L;

    private final long[] keys;
    private final long[] values;
    private final int mask;

    MergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        values = new long[capacity];
        mask = capacity - 1;
        java.util.Arrays.fill(keys, EMPTY);
    }

    static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    /** Later puts of the same pair overwrite earlier ones, as HF's HashMap collect does. */
    void put(int left, int right, int rank, int mergedId) {
        long key = pair(left, right);
        int slot = slot(key);
        while (keys[slot] != EMPTY && keys[slot] != key) {
            slot = (slot + 1) & mask;
        }
        keys[slot] = key;
        values[slot] = ((long) rank << 32) | (mergedId & 0xFFFFFFFFL);
    }

    /** Returns rank in the high 32 bits and merged id in the low 32 bits, or -1 if no merge. */
    long get(int left, int right) {
        long key = pair(left, right);
        int slot = slot(key);
        while (true) {
            long k = keys[slot];
            if (k == key) {
                return values[slot];
            }
            if (k == EMPTY) {
                return -1L;
            }
            slot = (slot + 1) & mask;
        }
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 33) & mask;
    }
}
