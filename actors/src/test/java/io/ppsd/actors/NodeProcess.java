package io.ppsd.actors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** A {@code ppsd node} in a JVM of its own (as DownedNodeExitTest starts one), its output in a log file. */
final class NodeProcess implements AutoCloseable {
    final Process process;
    final Path log;

    private NodeProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code ppsd node --config config} with these extra environment variables. */
    static NodeProcess start(Path config, Path log, Map<String, String> env) throws IOException {
        return start(List.of(), config, log, env);
    }

    /**
     * The same on host {@code host} of the network-namespace test bed ({@code cluster-configs/testbed.sh
     * run}: the node's own network stack, PPSD_HOST its address there).
     */
    static NodeProcess startOnHost(int host, Path config, Path log) throws IOException {
        String script = Path.of("../cluster-configs/testbed.sh").toAbsolutePath().normalize().toString();
        return start(List.of(script, "run", Integer.toString(host)), config, log, Map.of());
    }

    private static NodeProcess start(List<String> prefix, Path config, Path log, Map<String, String> env) throws IOException {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>(prefix);
        command.addAll(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", cp,
                "io.ppsd.actors.cli.PpsdCli", "node", "--config", config.toString()));
        var pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("PPSD_TLS_"));
        pb.environment().putAll(env);
        Process process = pb.start();
        // Never outlive the test JVM, whatever a test's teardown did.
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly));
        return new NodeProcess(process, log);
    }

    String output() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    long lines() {
        return output().lines().count();
    }

    /** CPU time the process has used so far (all threads). */
    Duration cpu() {
        return process.toHandle().info().totalCpuDuration().orElseThrow();
    }

    /** The fraction of one core the process uses over the next {@code window}. */
    double busy(Duration window) throws InterruptedException {
        Duration cpu0 = cpu();
        long t0 = System.nanoTime();
        Thread.sleep(window.toMillis());
        return cpu().minus(cpu0).toNanos() / (double) (System.nanoTime() - t0);
    }

    /** Waits until the log contains {@code text}; false after {@code timeout} or when the process ended. */
    boolean awaitOutput(String text, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (output().contains(text)) return true;
            if (!process.isAlive()) return output().contains(text);
            Thread.sleep(100);
        }
        return false;
    }

    /**
     * A gateway-only seed node in this JVM (no devices, port chosen by the system) that forms the
     * cluster by joining itself; {@code extra}: HOCON of the test (pipelines, addresses).
     */
    static org.apache.pekko.actor.typed.ActorSystem<Void> startSeed(String extra) {
        var seed = io.ppsd.actors.node.PpsdNode.start(com.typesafe.config.ConfigFactory.parseString(extra + """

                ppsd.node { roles = ["gateway"], devices = [] }
                pekko.remote.artery.canonical.port = 0
                pekko.coordinated-shutdown.exit-jvm = off
                """));
        var cluster = org.apache.pekko.cluster.typed.Cluster.get(seed);
        cluster.manager().tell(org.apache.pekko.cluster.typed.Join.create(cluster.selfMember().address()));
        return seed;
    }

    /** The Artery port of a node in this JVM. */
    static int portOf(org.apache.pekko.actor.typed.ActorSystem<?> system) {
        return (Integer) org.apache.pekko.cluster.typed.Cluster.get(system).selfMember().address().getPort().orElseThrow();
    }

    /** A port free now on 127.0.0.1 (for a node that must know its own address before it starts). */
    static int freePort() throws IOException {
        try (var s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** An include of a shipped config by absolute path, then the test's own settings. */
    static String including(String shippedConfig, String own) {
        return "include \"" + Path.of("../cluster-configs", shippedConfig).toAbsolutePath().normalize().toString().replace("\\", "/") + "\"\n" + own;
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    /** Waits until {@code count} members of {@code system}'s cluster are up. */
    static void awaitMembers(org.apache.pekko.actor.typed.ActorSystem<?> system, int count, int seconds) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < end) {
            int up = 0;
            for (var m : org.apache.pekko.cluster.typed.Cluster.get(system).state().getMembers()) {
                if (m.status() == org.apache.pekko.cluster.MemberStatus.up()) up++;
            }
            if (up >= count) return;
            Thread.sleep(200);
        }
        throw new IllegalStateException(count + " cluster members did not come up in " + seconds + " s");
    }

    static void closeAll(List<NodeProcess> nodes) {
        for (var n : nodes) {
            try {
                n.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
