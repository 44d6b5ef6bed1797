package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoDAsync;

/**
 * Keys and values of one sequence for some layers, in device memory: one allocation laid out as
 * [layer][keys | values][capacity positions][kvDim floats]. Truncation (rollback) only moves the
 * length; capacity grows by doubling, copying the cached rows on the device.
 */
final class DeviceKvCache implements AutoCloseable {
    private static final int INITIAL_CAPACITY = 64;

    private final CudaDevice device;
    private final int layers;
    private final int kvDim;
    private final int maxPositions;
    private DeviceBuffer storage;
    private int capacity;
    private int length;

    DeviceKvCache(CudaDevice device, int layers, int kvDim, int maxPositions) {
        this.device = device;
        this.layers = layers;
        this.kvDim = kvDim;
        this.maxPositions = maxPositions;
        this.capacity = Math.min(INITIAL_CAPACITY, maxPositions);
        this.storage = device.allocate(bytesFor(capacity));
    }

    int length() {
        return length;
    }

    void setLength(int length) {
        this.length = length;
    }

    void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " positions to " + newLength);
        }
        length = newLength;
    }

    /** Makes room for positions up to {@code newLength} (exclusive). */
    void reserve(int newLength) {
        if (newLength > maxPositions) {
            throw new IllegalArgumentException("position " + (newLength - 1) + " exceeds the context of " + maxPositions + " positions");
        }
        if (newLength <= capacity) return;
        int c = capacity;
        while (c < newLength) c = Math.min(maxPositions, c * 2);
        DeviceBuffer grown = device.allocate(bytesFor(c));
        long rowBytes = (long) kvDim * Float.BYTES;
        if (length > 0) {
            for (int l = 0; l < layers; l++) {
                for (int kv = 0; kv < 2; kv++) {
                    long from = storage.address() + ((long) (2 * l + kv) * capacity) * rowBytes;
                    long to = grown.address() + ((long) (2 * l + kv) * c) * rowBytes;
                    check(cuMemcpyDtoDAsync(to, from, length * rowBytes, device.stream()), "cuMemcpyDtoDAsync");
                }
            }
        }
        // The copies are queued on the stage's stream; freeing the old block waits for them.
        device.synchronize();
        storage.close();
        storage = grown;
        capacity = c;
    }

    long keys(int layer) {
        return storage.at((long) (2 * layer) * capacity * kvDim * Float.BYTES);
    }

    long values(int layer) {
        return storage.at((long) (2 * layer + 1) * capacity * kvDim * Float.BYTES);
    }

    private long bytesFor(int positions) {
        return 2L * layers * positions * kvDim * Float.BYTES;
    }

    @Override
    public void close() {
        storage.close();
    }
}
