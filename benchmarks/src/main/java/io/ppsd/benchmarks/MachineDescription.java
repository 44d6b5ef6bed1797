package io.ppsd.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A one-line description of the machine for result files: CPU model, cores, memory, JVM. */
public final class MachineDescription {
    private MachineDescription() {}

    public static String current() {
        String cpu = "unknown CPU";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: keep "unknown CPU"
        }
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return String.format("%s, %d cores, %.0f GB RAM, %s %s, Java %s", cpu, Runtime.getRuntime().availableProcessors(),
                os.getTotalMemorySize() / 1e9, System.getProperty("os.name"), System.getProperty("os.arch"), Runtime.version());
    }
}
