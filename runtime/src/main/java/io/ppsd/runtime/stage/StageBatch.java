package io.ppsd.runtime.stage;

import java.util.Arrays;

/**
 * The rows of one stage call that serves several sequences: consecutive segments, each a run of
 * positions [start, start + rows) of one sequence, their hidden states stored one after the other
 * in segment order. A backend reads each weight once for all rows; every row attends over its own
 * sequence's cache. Reusable: {@link #clear()} and fill again, nothing is allocated per call once
 * the arrays have grown.
 */
public final class StageBatch {
    private long[] seqs = new long[8];
    private int[] starts = new int[8];
    private int[] rows = new int[8];
    private int size;
    private int totalRows;

    /** A batch of one segment. */
    public static StageBatch of(long seq, int start, int rows) {
        return new StageBatch().add(seq, start, rows);
    }

    /** Appends a segment; a sequence may appear once per batch. */
    public StageBatch add(long seq, int start, int rowCount) {
        if (rowCount < 1) throw new IllegalArgumentException("a segment has at least one row, got " + rowCount);
        if (start < 0) throw new IllegalArgumentException("a segment starts at a position ≥ 0, got " + start);
        for (int i = 0; i < size; i++) {
            if (seqs[i] == seq) throw new IllegalArgumentException("sequence " + seq + " appears twice in one batch");
        }
        if (size == seqs.length) {
            seqs = Arrays.copyOf(seqs, 2 * size);
            starts = Arrays.copyOf(starts, 2 * size);
            rows = Arrays.copyOf(rows, 2 * size);
        }
        seqs[size] = seq;
        starts[size] = start;
        rows[size] = rowCount;
        size++;
        totalRows += rowCount;
        return this;
    }

    public void clear() {
        size = 0;
        totalRows = 0;
    }

    public int size() {
        return size;
    }

    public int totalRows() {
        return totalRows;
    }

    public long seq(int segment) {
        return seqs[segment];
    }

    public int start(int segment) {
        return starts[segment];
    }

    public int rows(int segment) {
        return rows[segment];
    }

    /** The first row of {@code segment} in the batch's hidden states. */
    public int rowOffset(int segment) {
        int off = 0;
        for (int i = 0; i < segment; i++) off += rows[i];
        return off;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("StageBatch[");
        for (int i = 0; i < size; i++) b.append(i == 0 ? "" : ", ").append(seqs[i]).append('@').append(starts[i]).append('+').append(rows[i]);
        return b.append(']').toString();
    }
}
