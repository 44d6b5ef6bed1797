package io.ppsd.runtime.stage;

/**
 * A compute device a stage runs on: a backend ("cpu", "cuda"), its index on the node (a GPU
 * ordinal, or a slot of CPU cores), and for CPU slots the number of cores.
 */
public record Device(String backend, int index, int threads) {
    public Device {
        if (backend == null || backend.isBlank()) throw new IllegalArgumentException("a device needs a backend");
        if (index < 0) throw new IllegalArgumentException("device index must be ≥ 0, got " + index);
        if (threads < 1) throw new IllegalArgumentException("a device needs at least one thread, got " + threads);
    }

    /** Parses "cpu:0", "cuda:1", "cpu:2x4" (slot 2 with 4 cores). */
    public static Device parse(String s) {
        String[] parts = s.trim().split(":");
        if (parts.length != 2) throw new IllegalArgumentException("device '" + s + "' must look like cpu:0, cpu:0x2 or cuda:0");
        String[] idx = parts[1].split("x");
        try {
            return new Device(parts[0], Integer.parseInt(idx[0]), idx.length > 1 ? Integer.parseInt(idx[1]) : 1);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("device '" + s + "' must look like cpu:0, cpu:0x2 or cuda:0");
        }
    }

    @Override
    public String toString() {
        return backend + ":" + index + (threads > 1 ? "x" + threads : "");
    }
}
