package io.ppsd.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU check (cuda/gpu-check/kernel_check.py, what a session lent a GPU runs) works: on the
 * emulated driver, with the packaged PTX and tiny shapes, every kernel it launches gives the
 * float64 reference's result and the script exits 0. Its timings here mean nothing. Skipped
 * (with the reason) where /usr/bin/python3 cannot import numpy.
 */
class GpuCheckScriptTest {
    private static final String PYTHON = "/usr/bin/python3";

    @TempDir
    Path out;

    @Test
    void theGpuCheckRunsOnTheEmulatedDriver() throws Exception {
        EmulatedDriver.requireEmulator();
        assumeTrue(run(out.resolve("numpy.log"), PYTHON, "-c", "import numpy") == 0, PYTHON + " cannot import numpy (apt-get install python3-numpy)");
        Path ptx = Path.of("target/classes/io/ppsd/cuda");
        Path log = out.resolve("check.log");
        int exit = run(log, PYTHON, "gpu-check/kernel_check.py", "--lib", System.getProperty("ppsd.cuda.emulator"), "--modules", ptx.toString(),
                "--shape", "tiny", "--out", out.toString());
        String text = Files.readString(log);
        assertEquals(0, exit, text);
        assertTrue(text.contains("all results within their bounds"), text);
        String json = Files.readString(out.resolve("kernel_check.json"));
        assertTrue(json.contains("\"check\": \"attention ctx 100 n=4 (4 splits)\""), "the split attention path ran: " + json);
        assertTrue(!json.contains("\"ok\": false"), json);
    }

    private static int run(Path log, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", cmd) + " did not finish in 120 s");
        }
        return p.exitValue();
    }
}
