package io.ppsd.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU check (cuda/gpu-check: what a session lent a GPU runs) works before device time is spent
 * on it, on the emulated driver with tiny shapes: pack.sh builds the jlink-ed runtime and jars from
 * this build's classpath, and run.sh runs every phase with that runtime — the Java agreement
 * scenario, the model writer, the Java decode benchmark (device-resident and host paths choosing
 * the same tokens), the peer (which reports that transformers is missing here), the table and the
 * kernel check against float64. Its timings here mean nothing. Skipped (with the reason) where
 * /usr/bin/python3 cannot import numpy and torch.
 */
class GpuCheckScriptTest {
    private static final String PYTHON = "/usr/bin/python3";

    @TempDir
    Path out;

    @Test
    void theGpuCheckRunsOnTheEmulatedDriver() throws Exception {
        EmulatedDriver.requireEmulator();
        assumeTrue(run(out.resolve("python.log"), Map.of(), PYTHON, "-c", "import numpy, torch") == 0,
                PYTHON + " cannot import numpy and torch (apt-get install python3-numpy python3-torch)");
        Path pack = out.resolve("pack");
        int packed = run(out.resolve("pack.log"), Map.of("JAVA_HOME", System.getProperty("java.home")), "bash", "gpu-check/pack.sh",
                "--classpath", System.getProperty("java.class.path"), "--out", pack.toString());
        assertEquals(0, packed, Files.readString(out.resolve("pack.log")));
        assertTrue(Files.isExecutable(pack.resolve("jre/bin/java")), "the pack holds a runtime");

        Path results = out.resolve("results");
        Path log = out.resolve("check.log");
        int exit = run(log, Map.of("OUT", results.toString()), "bash", "gpu-check/run.sh", "--emulator", System.getProperty("ppsd.cuda.emulator"),
                "--pack", pack.toString(), "--shape", "tiny");
        String text = Files.readString(log);
        assertEquals(0, exit, text);
        assertTrue(Files.readString(results.resolve("agreement.txt")).contains("agreement: all within their bounds"), text);
        String table = Files.readString(results.resolve("table.md"));
        assertTrue(table.contains("| 16 | ppsd device |") && table.contains("| 40 | ppsd host |") && table.contains("| 40 | ppsd sampled |"), table);
        assertTrue(table.contains("| 6/6 |") && !table.contains("| 0/6 |"), "the host path chose the device step's tokens: " + table);
        assertTrue(table.contains("| 40 | 8 |"), "stage calls of 8 rows timed: " + table);
        assertTrue(Files.readString(results.resolve("peer.json")).contains("\"skipped\""), "transformers is not installed here");
        assertTrue(text.contains("all results within their bounds"), text);
        String json = Files.readString(results.resolve("kernel_check.json"));
        assertTrue(json.contains("\"check\": \"attention ctx 100 n=4 (4 splits)\""), "the split attention path ran: " + json);
        assertTrue(!json.contains("\"ok\": false"), json);
    }

    private static int run(Path log, Map<String, String> env, String... cmd) throws Exception {
        var builder = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        builder.environment().putAll(env);
        Process p = builder.start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", cmd) + " did not finish in 300 s");
        }
        return p.exitValue();
    }
}
