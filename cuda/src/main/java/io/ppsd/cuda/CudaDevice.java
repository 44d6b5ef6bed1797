package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR;
import static org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR;
import static org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT;
import static org.bytedeco.cuda.global.cudart.CU_STREAM_NON_BLOCKING;
import static org.bytedeco.cuda.global.cudart.cuCtxSetCurrent;
import static org.bytedeco.cuda.global.cudart.cuDeviceGet;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetAttribute;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetName;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRelease;
import static org.bytedeco.cuda.global.cudart.cuDevicePrimaryCtxRetain;
import static org.bytedeco.cuda.global.cudart.cuDeviceTotalMem;
import static org.bytedeco.cuda.global.cudart.cuMemAlloc;
import static org.bytedeco.cuda.global.cudart.cuStreamCreate;
import static org.bytedeco.cuda.global.cudart.cuStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cuStreamSynchronize;

import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.SizeTPointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One GPU as a stage uses it: the device's primary context (shared with anyone else in the process
 * who uses the device, reference counted by the driver) and one stream of its own, on which all of
 * the stage's copies and kernels run in order.
 *
 * <p>The driver's current context is per thread, and a stage may be run by different threads over
 * its life (an actor's dispatcher), so every entry point calls {@link #makeCurrent()} first.
 */
public final class CudaDevice implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CudaDevice.class);

    /** What a device is; for logs and for NVRTC's target architecture. */
    public record Properties(int ordinal, String name, int computeMajor, int computeMinor, long totalBytes, int multiprocessors) {
        public String architecture() {
            return "compute_" + computeMajor + computeMinor;
        }
    }

    private final Properties properties;
    private final int handle;
    private final CUctx_st context = new CUctx_st();
    private final CUstream_st stream = new CUstream_st();
    private boolean closed;

    private CudaDevice(int ordinal) {
        int count = CudaDriver.require();
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaUnavailableException("device " + ordinal + " requested but the driver reports " + count + " device(s) [0, " + count + ")");
        }
        int[] dev = new int[1];
        check(cuDeviceGet(dev, ordinal), "cuDeviceGet(" + ordinal + ")");
        handle = dev[0];
        check(cuDevicePrimaryCtxRetain(context, handle), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        check(cuStreamCreate(stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, handle), "cuDeviceGetName");
        int[] major = new int[1], minor = new int[1];
        check(cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle), "cuDeviceGetAttribute");
        check(cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle), "cuDeviceGetAttribute");
        int[] sms = new int[1];
        check(cuDeviceGetAttribute(sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, handle), "cuDeviceGetAttribute");
        long total;
        try (SizeTPointer bytes = new SizeTPointer(1)) {
            check(cuDeviceTotalMem(bytes, handle), "cuDeviceTotalMem");
            total = bytes.get();
        }
        int len = 0;
        while (len < name.length && name[len] != 0) len++;
        properties = new Properties(ordinal, new String(name, 0, len), major[0], minor[0], total, sms[0]);
        log.info("CUDA device {}: {} (sm_{}{}, {} SMs, {} MiB)", ordinal, properties.name(), major[0], minor[0], sms[0], total >> 20);
    }

    /** Opens device {@code ordinal}, or throws {@link CudaUnavailableException} saying why it cannot. */
    public static CudaDevice open(int ordinal) {
        return new CudaDevice(ordinal);
    }

    public Properties properties() {
        return properties;
    }

    CUstream_st stream() {
        return stream;
    }

    /** Binds this device's context to the calling thread. */
    void makeCurrent() {
        if (closed) throw new IllegalStateException("CUDA device " + properties.ordinal() + " is closed");
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /** Waits for everything queued on this device's stream. */
    void synchronize() {
        check(cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    DeviceBuffer allocate(long bytes) {
        long[] address = new long[1];
        check(cuMemAlloc(address, bytes), "cuMemAlloc(" + bytes + " bytes)");
        return new DeviceBuffer(address[0], bytes);
    }

    @Override
    public void close() {
        if (closed) return;
        makeCurrent();
        check(cuStreamSynchronize(stream), "cuStreamSynchronize");
        check(cuStreamDestroy(stream), "cuStreamDestroy");
        closed = true;
        check(cuDevicePrimaryCtxRelease(handle), "cuDevicePrimaryCtxRelease");
    }
}
