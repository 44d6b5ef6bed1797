package io.ppsd.runtime.tokenizer;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of a {@code tokenizer.json}: turns one pre-token ("word") into ids by applying
 * merges in rank order, exactly like HF tokenizers' {@code Word::merge_all}: always the pair with
 * the lowest rank, leftmost among equals, re-evaluated after every merge.
 *
 * <p>Words are short in byte-level models (one regex piece) but can be a whole paragraph in
 * SentencePiece-style models without a pre-tokenizer, so merging uses a binary heap over a linked
 * symbol list (n log n) rather than repeated rank scans (n squared). Short words are cached because
 * natural text repeats them constantly.
 */
final class BpeModel {
    /** Words longer than this are not cached: they rarely repeat and would bloat the cache. */
    private static final int MAX_CACHED_WORD_LENGTH = 256;
    /** Bound on cache entries; the cache is simply cleared when full (cheap and good enough). */
    private static final int MAX_CACHE_ENTRIES = 200_000;

    private final Map<String, Integer> vocab;
    private final MergeTable merges;
    /** Id of each single-char BMP token, -1 if absent; avoids a map lookup per character. */
    private final int[] charIds = new int[65536];
    /** Ids of the {@code <0xAB>} byte tokens, -1 where missing; only used with byte fallback. */
    private final int[] byteIds = new int[256];
    private final boolean byteFallback;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    BpeModel(Map<String, Integer> vocab, MergeTable merges, boolean byteFallback, int unkId,
            boolean fuseUnk, boolean ignoreMerges) {
        this.vocab = vocab;
        this.merges = merges;
        this.byteFallback = byteFallback;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        Arrays.fill(charIds, -1);
        Arrays.fill(byteIds, -1);
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            String piece = e.getKey();
            if (piece.length() == 1) {
                charIds[piece.charAt(0)] = e.getValue();
            }
        }
        for (int b = 0; b < 256; b++) {
            // HF formats these as format!("<{:#04X}>", b): "0x" prefix, upper-case hex digits.
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteIds[b] = id == null ? -1 : id;
        }
    }

    /** Appends the ids of one pre-token. */
    void encodeWord(String word, GrowableIntArray out) {
        if (word.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            // LLaMA-3: a pre-token that is itself in the vocab is emitted whole, even when the
            // merges would have produced a different split.
            Integer whole = vocab.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        boolean cacheable = word.length() <= MAX_CACHED_WORD_LENGTH;
        int[] ids = cacheable ? cache.get(word) : null;
        if (ids == null) {
            ids = mergeWord(word);
            if (cacheable) {
                if (cache.size() >= MAX_CACHE_ENTRIES) {
                    cache.clear();
                }
                cache.put(word, ids);
            }
        }
        out.addAll(ids);
    }

    private int[] mergeWord(String word) {
        // 1. Initial symbols: one per code point, or its byte tokens, or <unk>.
        int n = word.length();
        int[] ids = new int[Math.max(4, n)];
        int count = 0;
        int pendingUnk = -1; // -1: none; otherwise fuse state (HF keeps one pending unk)
        for (int i = 0; i < n; ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            int id = len == 1 ? charIds[cp] : lookup(word.substring(i, i + len));
            i += len;
            if (id >= 0) {
                if (pendingUnk >= 0) {
                    ids = append(ids, count++, pendingUnk);
                    pendingUnk = -1;
                }
                ids = append(ids, count++, id);
                continue;
            }
            if (byteFallback) {
                byte[] bytes = new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bytes) {
                    all &= byteIds[b & 0xFF] >= 0;
                }
                if (all) {
                    // As in HF, a pending <unk> is not flushed here but after the byte tokens.
                    for (byte b : bytes) {
                        ids = append(ids, count++, byteIds[b & 0xFF]);
                    }
                    continue;
                }
            }
            if (unkId >= 0) {
                if (pendingUnk >= 0 && !fuseUnk) {
                    ids = append(ids, count++, pendingUnk);
                }
                pendingUnk = unkId;
            }
            // Without an unk token the character is dropped, as HF does.
        }
        if (pendingUnk >= 0) {
            ids = append(ids, count++, pendingUnk);
        }
        if (count < 2) {
            return Arrays.copyOf(ids, count);
        }

        // 2. Merge: linked list of symbols plus a min-heap of (rank, position) candidates.
        int[] next = new int[count];
        int[] prev = new int[count];
        boolean[] dead = new boolean[count];
        for (int i = 0; i < count; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        LongHeap heap = new LongHeap(count);
        for (int i = 0; i + 1 < count; i++) {
            long m = merges.get(ids[i], ids[i + 1]);
            if (m >= 0) {
                heap.push((m & 0xFFFFFFFF_00000000L) | i);
            }
        }
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            if (dead[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            long m = merges.get(ids[pos], ids[right]);
            // Stale entry: the pair at pos changed since it was queued.
            if (m < 0 || (int) (m >>> 32) != rank) {
                continue;
            }
            ids[pos] = (int) m;
            dead[right] = true;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                long pm = merges.get(ids[prev[pos]], ids[pos]);
                if (pm >= 0) {
                    heap.push((pm & 0xFFFFFFFF_00000000L) | prev[pos]);
                }
            }
            if (next[pos] >= 0) {
                long nm = merges.get(ids[pos], ids[next[pos]]);
                if (nm >= 0) {
                    heap.push((nm & 0xFFFFFFFF_00000000L) | pos);
                }
            }
        }
        int alive = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            alive++;
        }
        int[] result = new int[alive];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            result[k++] = ids[i];
        }
        return result;
    }

    private int lookup(String piece) {
        Integer id = vocab.get(piece);
        return id == null ? -1 : id;
    }

    private static int[] append(int[] array, int index, int value) {
        if (index == array.length) {
            array = Arrays.copyOf(array, array.length * 2);
        }
        array[index] = value;
        return array;
    }

    /** Binary min-heap of longs; ordering (rank, position) packed as one long orders both at once. */
    private static final class LongHeap {
        private long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long value) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= value) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = value;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
