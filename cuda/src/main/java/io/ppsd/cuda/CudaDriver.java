package io.ppsd.cuda;

import static org.bytedeco.cuda.global.cudart.CUDA_SUCCESS;
import static org.bytedeco.cuda.global.cudart.cuDeviceGetCount;
import static org.bytedeco.cuda.global.cudart.cuDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cuInit;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Loader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The process-wide state of the CUDA driver: found, bound through JavaCPP, initialised — once.
 *
 * <p>The probe goes from the outside in, so that every way of failing has its own message and none
 * of them crashes the JVM: first {@code libcuda.so.1} is opened with the FFM API (no driver: stop
 * here, before JavaCPP's JNI library, which links to it, is loaded), then JavaCPP's CUDA bindings
 * are loaded (they also need the toolkit's {@code libcudart.so.13}), then {@code cuInit} and the
 * device count.
 */
public final class CudaDriver {
    private static final Logger log = LoggerFactory.getLogger(CudaDriver.class);
    static final String DRIVER_LIBRARY = "libcuda.so.1";

    /** What the probe found; {@code problem} is null when the driver is usable. */
    public record Status(int devices, int driverVersion, String problem) {
        public boolean available() {
            return problem == null;
        }
    }

    private static volatile Status status;

    private CudaDriver() {}

    /** Probes the driver once per process; never throws. */
    public static Status status() {
        Status s = status;
        if (s == null) {
            synchronized (CudaDriver.class) {
                s = status;
                if (s == null) status = s = probe();
            }
        }
        return s;
    }

    /** The number of devices, or a {@link CudaUnavailableException} saying why there are none. */
    public static int require() {
        Status s = status();
        if (!s.available()) throw new CudaUnavailableException(s.problem());
        return s.devices();
    }

    @SuppressWarnings("restricted")  // opening a native library by name is the point of the probe
    private static Status probe() {
        try {
            // Opened for the process lifetime: the JNI library below binds to this same copy.
            SymbolLookup.libraryLookup(DRIVER_LIBRARY, Arena.global());
        } catch (IllegalArgumentException e) {
            return unavailable(DRIVER_LIBRARY + " not found (no NVIDIA driver)");
        } catch (IllegalCallerException e) {
            log.debug("native access is not enabled for the FFM probe; relying on JavaCPP's loader", e);
        }
        try {
            Loader.load(cudart.class);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            return unavailable("JavaCPP could not load its CUDA bindings (libjnicudart.so needs " + DRIVER_LIBRARY
                    + " and libcudart.so.13 of a CUDA 13 toolkit on the library path): " + e);
        }
        int init = cuInit(0);
        if (init != CUDA_SUCCESS) return unavailable("cuInit failed: " + DriverCall.errorName(init));
        int[] count = new int[1];
        int r = cuDeviceGetCount(count);
        if (r != CUDA_SUCCESS) return unavailable("cuDeviceGetCount failed: " + DriverCall.errorName(r));
        if (count[0] == 0) return unavailable("the driver reports no CUDA device");
        int[] version = new int[1];
        cuDriverGetVersion(version);
        log.info("CUDA driver {} with {} device(s)", version[0], count[0]);
        return new Status(count[0], version[0], null);
    }

    private static Status unavailable(String problem) {
        log.info("CUDA backend unavailable: {}", problem);
        return new Status(0, 0, problem);
    }
}
