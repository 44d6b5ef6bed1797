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
}
