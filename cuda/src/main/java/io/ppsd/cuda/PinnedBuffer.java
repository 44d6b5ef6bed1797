package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemAllocHost;
import static org.bytedeco.cuda.global.cudart.cuMemFreeHost;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Page-locked host memory: the staging area for hidden states, logits and token ids, so that
 * asynchronous copies really are asynchronous (and need no hidden bounce buffer in the driver).
 * Allocated once per stage; the hot path only copies Java arrays in and out.
 */
final class PinnedBuffer implements AutoCloseable {
    private final BytePointer memory;
    private final FloatPointer floats;
    private final IntPointer ints;
    private final long bytes;
    private boolean freed;

    PinnedBuffer(long bytes) {
        this.bytes = bytes;
        try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
            check(cuMemAllocHost(out, bytes), "cuMemAllocHost(" + bytes + " bytes)");
            memory = new BytePointer(out.get(0)).capacity(bytes);
        }
        floats = new FloatPointer(memory).capacity(bytes / Float.BYTES);
        ints = new IntPointer(memory).capacity(bytes / Integer.BYTES);
    }

    Pointer pointer() {
        return memory;
    }

    /** The address {@code offset} bytes in, as a pointer to hand to copies (make it once, not per call). */
    Pointer pointer(long offset) {
        checkSize(offset);
        return new BytePointer(memory).position(offset);
    }

    long bytes() {
        return bytes;
    }

    void putFloats(float[] src, int off, int count) {
        checkSize((long) count * Float.BYTES);
        floats.position(0).put(src, off, count);
    }

    void getFloats(float[] dst, int off, int count) {
        checkSize((long) count * Float.BYTES);
        floats.position(0).get(dst, off, count);
    }

    /** Floats into the buffer from byte {@code at} on (4-byte aligned). */
    void putFloats(long at, float[] src, int off, int count) {
        checkSize(at + (long) count * Float.BYTES);
        floats.position(at / Float.BYTES).put(src, off, count);
    }

    /** Floats out of the buffer from byte {@code at} on (4-byte aligned). */
    void getFloats(long at, float[] dst, int off, int count) {
        checkSize(at + (long) count * Float.BYTES);
        floats.position(at / Float.BYTES).get(dst, off, count);
    }

    /** A PpsdRowSlot (ppsd_device.cuh) at slot {@code index}: cache address, capacity, position. */
    void putRowSlot(int index, long kv, int capacity, int pos) {
        long at = (long) index * Kernel.ROW_SLOT_BYTES;
        checkSize(at + Kernel.ROW_SLOT_BYTES);
        memory.putLong(at, kv);
        memory.putInt(at + 8, capacity);
        memory.putInt(at + 12, pos);
    }

    void putInt(long at, int value) {
        checkSize(at + Integer.BYTES);
        memory.putInt(at, value);
    }

    int getInt(long at) {
        checkSize(at + Integer.BYTES);
        return memory.getInt(at);
    }

    void putInts(int[] src, int off, int count) {
        checkSize((long) count * Integer.BYTES);
        ints.position(0).put(src, off, count);
    }

    private void checkSize(long need) {
        if (need > bytes) throw new IndexOutOfBoundsException(need + " bytes do not fit a pinned buffer of " + bytes);
    }

    /** Frees the memory; the owning device's context must be current. */
    @Override
    public void close() {
        if (freed) return;
        freed = true;
        check(cuMemFreeHost(memory), "cuMemFreeHost");
    }
}
