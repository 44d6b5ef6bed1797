package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoDAsync;

import io.ppsd.runtime.stage.SequenceKv;

/**
 * Keys and values of one sequence for some layers, in device memory: one allocation laid out as
 * [layer][keys | values][capacity positions][kvDim elements], elements F32 or BF16 (the kernels
 * find a row's cache through its PpsdRowSlot: {@link #address()} and {@link #capacity()}).
 * Truncation (rollback) only moves the length; capacity grows by doubling, copying the cached rows
 * on the device.
 */
final class DeviceKvCache extends SequenceKv {
    private static final int INITIAL_CAPACITY = 64;

    private final CudaDevice device;
    private final int layers;
    private final int kvDim;
    private final KvDtype dtype;
    private DeviceBuffer storage;

    DeviceKvCache(CudaDevice device, int layers, int kvDim, int maxPositions, KvDtype dtype) {
        super(maxPositions, Math.min(INITIAL_CAPACITY, maxPositions));
        this.device = device;
        this.layers = layers;
        this.kvDim = kvDim;
        this.dtype = dtype;
        this.storage = device.allocate(bytesFor(capacity()));
    }

    @Override
    protected void grow(int c) {
        DeviceBuffer grown = device.allocate(bytesFor(c));
        long rowBytes = (long) kvDim * dtype.bytes;
        int capacity = capacity();
        if (length() > 0) {
            for (int l = 0; l < layers; l++) {
                for (int kv = 0; kv < 2; kv++) {
                    long from = storage.address() + ((long) (2 * l + kv) * capacity) * rowBytes;
                    long to = grown.address() + ((long) (2 * l + kv) * c) * rowBytes;
                    check(cuMemcpyDtoDAsync(to, from, length() * rowBytes, device.stream()), "cuMemcpyDtoDAsync");
                }
            }
        }
        // The copies are queued on the stage's stream; freeing the old block waits for them.
        device.synchronize();
        storage.close();
        storage = grown;
    }

    /** Where the storage starts: layer 0's keys. */
    long address() {
        return storage.address();
    }

    private long bytesFor(int positions) {
        return 2L * layers * positions * kvDim * dtype.bytes;
    }

    @Override
    public void close() {
        storage.close();
    }
}
