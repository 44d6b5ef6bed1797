package io.ppsd.runtime.stage;

/**
 * Sequence id → value, open addressing on primitive longs, so that looking up a sequence's cache
 * per token does not box its id.
 */
public final class SequenceTable<V> {
    private long[] keys = new long[16];
    private Object[] values = new Object[16];
    private int size;

    @SuppressWarnings("unchecked")
    public V get(long key) {
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            if (values[i] == null) return null;
            if (keys[i] == key) return (V) values[i];
        }
    }

    /** Adds a value for a key that has none; returns the value. */
    public V put(long key, V value) {
        if (get(key) != null) throw new IllegalStateException("sequence " + key + " already present");
        if (2 * (size + 1) > keys.length) grow();
        insert(key, value);
        size++;
        return value;
    }

    @SuppressWarnings("unchecked")
    public V remove(long key) {
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            if (values[i] == null) return null;
            if (keys[i] == key) {
                V old = (V) values[i];
                values[i] = null;
                size--;
                // Re-insert the rest of the probe run so lookups never stop at the hole.
                for (int j = (i + 1) & mask; values[j] != null; j = (j + 1) & mask) {
                    long k = keys[j];
                    Object val = values[j];
                    values[j] = null;
                    insert(k, val);
                }
                return old;
            }
        }
    }

    public int size() {
        return size;
    }

    /** Calls {@code action} with every value (no particular order). */
    @SuppressWarnings("unchecked")
    public void forEachValue(java.util.function.Consumer<V> action) {
        for (Object v : values) if (v != null) action.accept((V) v);
    }

    /** Removes every entry. */
    public void clear() {
        java.util.Arrays.fill(values, null);
        size = 0;
    }

    private void insert(long key, Object value) {
        int mask = keys.length - 1;
        int i = slot(key, mask);
        while (values[i] != null) i = (i + 1) & mask;
        keys[i] = key;
        values[i] = value;
    }

    private void grow() {
        long[] oldKeys = keys;
        Object[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new Object[oldKeys.length * 2];
        for (int i = 0; i < oldKeys.length; i++) if (oldValues[i] != null) insert(oldKeys[i], oldValues[i]);
    }

    private static int slot(long key, int mask) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32)) & mask;
    }

    @Override
    public String toString() {
        return "SequenceTable(size=" + size + ")";
    }
}
