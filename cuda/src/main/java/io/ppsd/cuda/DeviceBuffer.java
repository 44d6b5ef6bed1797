package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemFree;

/** A block of device memory: its address (a {@code CUdeviceptr}) and size. Freed once, explicitly. */
final class DeviceBuffer implements AutoCloseable {
    private final long address;
    private final long bytes;
    private boolean freed;

    DeviceBuffer(long address, long bytes) {
        this.address = address;
        this.bytes = bytes;
    }

    long address() {
        return address;
    }

    long bytes() {
        return bytes;
    }

    /** The address {@code offset} bytes in, checked against the size (a wrong offset fails here, not on the GPU). */
    long at(long offset) {
        if (offset < 0 || offset > bytes) throw new IndexOutOfBoundsException("offset " + offset + " outside a device buffer of " + bytes + " bytes");
        return address + offset;
    }

    /** Frees the memory; the owning device's context must be current. */
    @Override
    public void close() {
        if (freed) return;
        freed = true;
        check(cuMemFree(address), "cuMemFree");
    }
}
