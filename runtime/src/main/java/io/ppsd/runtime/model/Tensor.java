package io.ppsd.runtime.model;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A named tensor whose bytes stay where they are: in a memory-mapped safetensors file, or in
 * off-heap memory when the engine had to convert them. Row-major, little-endian.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    public long elements() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public int rows() {
        return (int) shape[0];
    }

    public int cols() {
        return shape.length == 1 ? 1 : (int) shape[1];
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** The rows {@code ids} of this matrix, in that order, copied into {@code arena} (a reduced-vocabulary projection). */
    public Tensor gatherRows(int[] ids, java.lang.foreign.Arena arena) {
        if (shape.length != 2) throw new IllegalArgumentException("tensor " + name + " is not a matrix: " + shapeString());
        long rowBytes = (long) cols() * dtype.bytes;
        MemorySegment out = arena.allocate(rowBytes * ids.length, 64);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= rows()) throw new IllegalArgumentException("row " + ids[i] + " outside " + name + " " + shapeString());
            MemorySegment.copy(data, ids[i] * rowBytes, out, i * rowBytes, rowBytes);
        }
        return new Tensor(name + "[" + ids.length + " rows]", dtype, new long[] {ids.length, cols()}, out);
    }
}
