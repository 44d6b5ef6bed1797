package io.ppsd.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Selecting the CUDA backend where it cannot run gives one clear message, never a JVM crash, and the
 * CPU backend keeps working. The driver is per process, so the cases without one run in a child JVM
 * whose library path lacks the emulated driver.
 */
class CudaUnavailableTest {
    private static final List<String> SYSTEM_DRIVERS = List.of(
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1", "/usr/lib/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1");

    @Test
    void withoutADriverTheMessageNamesTheMissingLibrary() throws Exception {
        assumeFalse(SYSTEM_DRIVERS.stream().anyMatch(p -> Files.exists(Path.of(p))), "this machine has an NVIDIA driver");
        String out = runProbe(Map.of("LD_LIBRARY_PATH", toolkitLibraries()));
        assertTrue(out.contains("UNAVAILABLE CUDA backend unavailable: libcuda.so.1 not found (no NVIDIA driver)"), out);
        assertTrue(out.contains("CPU OK"), out);
    }

    @Test
    void aDriverWithoutDevicesIsReportedAsSuch() throws Exception {
        EmulatedDriver.requireEmulator();
        String emulator = Path.of(System.getProperty("ppsd.cuda.emulator")).getParent().toString();
        String out = runProbe(Map.of("LD_LIBRARY_PATH", emulator + ":" + toolkitLibraries(), "PPSD_EMU_DEVICES", "0"));
        assertTrue(out.contains("UNAVAILABLE CUDA backend unavailable: cuInit failed: CUDA_ERROR_NO_DEVICE"), out);
        assertTrue(out.contains("CPU OK"), out);
    }

    @Test
    void aDeviceOrdinalBeyondTheDevicesIsReportedAsSuch() {
        EmulatedDriver.require();
        int devices = CudaDriver.require();
        var e = assertThrows(CudaUnavailableException.class, () -> CudaDevice.open(devices));
        assertEquals("CUDA backend unavailable: device " + devices + " requested but the driver reports " + devices + " device(s) [0, "
                + devices + ")", e.getMessage());
    }

    private static String toolkitLibraries() {
        return System.getProperty("ppsd.cuda.home", "/usr/local/cuda") + "/lib64";
    }

    /** Runs {@link NoDriverProbe} in a child JVM with this JVM's class path and the given environment. */
    private static String runProbe(Map<String, String> environment) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        var builder = new ProcessBuilder(java.toString(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-cp", System.getProperty("java.class.path"), NoDriverProbe.class.getName());
        builder.environment().remove("PPSD_EMU_LOG");
        builder.environment().putAll(environment);
        builder.redirectErrorStream(true);
        Process p = builder.start();
        byte[] output = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        String text = new String(output, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "child JVM exit code (a crash would be 134 or similar):\n" + text);
        return text;
    }
}
