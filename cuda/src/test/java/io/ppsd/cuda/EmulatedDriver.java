package io.ppsd.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The driver the tests run on. Normally the CPU emulation of the CUDA driver (built by the Maven
 * test phase into target/emu/libcuda.so.1 and put first on the forked JVM's LD_LIBRARY_PATH);
 * with {@code -Preal-gpu} the machine's NVIDIA driver. Also the emulator-only entry point: the
 * message of the last failed call.
 */
final class EmulatedDriver {
    private static MethodHandle lastError, counters, refuseGraphs;

    /** What the backend asked of the driver since the last reading (see ppsd_emu_counters in emu_driver.cpp). */
    record Counts(long launches, long hostToDeviceCopies, long hostToDeviceBytes, long deviceToHostCopies, long deviceToHostBytes,
                  long deviceToDeviceCopies, long synchronizations, long graphLaunches) {
        @Override
        public String toString() {
            return launches + " launches, " + graphLaunches + " graph launches, " + hostToDeviceCopies + " H2D copies (" + hostToDeviceBytes + " B), " + deviceToHostCopies
                    + " D2H copies (" + deviceToHostBytes + " B), " + deviceToDeviceCopies + " D2D copies, " + synchronizations + " synchronizations";
        }
    }

    private EmulatedDriver() {}

    static boolean onRealGpu() {
        return "system".equals(System.getProperty("ppsd.cuda.test-driver"));
    }

    /** Skips the calling test unless there is a driver to run on: the emulation, or a GPU with -Preal-gpu. */
    static void require() {
        if (onRealGpu()) {
            var status = CudaDriver.status();
            if (!status.available()) throw new AssertionError("-Preal-gpu but no usable driver: " + status.problem());
            return;
        }
        requireEmulator();
    }

    /** Skips the calling test unless the emulated driver is the CUDA driver this JVM sees (tests of the emulator itself). */
    static void requireEmulator() {
        assumeTrue(!onRealGpu(), "emulator-only test");
        String lib = System.getProperty("ppsd.cuda.emulator");
        assumeTrue(lib != null && Files.isRegularFile(Path.of(lib)),
                "the CUDA driver emulation was not built (run the tests through Maven)");
        assumeTrue(KernelModules.resource(KernelModules.RESOURCE_DIR + "matmul.ptx") != null,
                "no packaged PTX (the build had no nvcc); the emulated driver runs nvcc's PTX only");
        var status = CudaDriver.status();
        if (!status.available()) throw new AssertionError("emulated driver present but unusable: " + status.problem());
    }

    /** The emulator's counters since the last call (launches, copies and their bytes, synchronizations); resets them. */
    @SuppressWarnings("restricted")
    static synchronized Counts counts() {
        requireEmulator();
        try (Arena arena = Arena.ofConfined()) {
            if (counters == null) {
                var symbol = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("ppsd_emu_counters").orElseThrow();
                counters = Linker.nativeLinker().downcallHandle(symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            }
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, 8);
            int n = (int) counters.invokeExact(out, 8);
            if (n != 8) throw new AssertionError("the emulator keeps " + n + " counters, this test reads 8: rebuild it");
            long[] c = out.toArray(ValueLayout.JAVA_LONG);
            return new Counts(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
        } catch (Throwable e) {
            throw new AssertionError("cannot read the emulator's counters", e);
        }
    }

    /** Makes the emulator refuse stream capture (as a driver without graphs would), or allow it again. */
    @SuppressWarnings("restricted")
    static synchronized void refuseGraphs(boolean refuse) {
        requireEmulator();
        try {
            if (refuseGraphs == null) {
                var symbol = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("ppsd_emu_refuse_graphs").orElseThrow();
                refuseGraphs = Linker.nativeLinker().downcallHandle(symbol, FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
            }
            refuseGraphs.invokeExact(refuse ? 1 : 0);
        } catch (Throwable e) {
            throw new AssertionError("cannot reach the emulator's graph switch", e);
        }
    }

    /** What the emulator said about the last call that failed. */
    @SuppressWarnings("restricted")
    static synchronized String lastError() {
        try {
            if (lastError == null) {
                var symbol = SymbolLookup.libraryLookup("libcuda.so.1", Arena.global()).find("ppsd_emu_last_error").orElseThrow();
                lastError = Linker.nativeLinker().downcallHandle(symbol, FunctionDescriptor.of(ValueLayout.ADDRESS));
            }
            MemorySegment text = (MemorySegment) lastError.invokeExact();
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable e) {
            throw new AssertionError("cannot read the emulator's last error", e);
        }
    }
}
