package io.ppsd.benchmarks.run;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import io.ppsd.benchmarks.net.DelayingRelay;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * The actor pipeline across JVMs on this host: 2 to 4 {@code ppsd node} processes on loopback
 * share the stages' devices (stage k's device goes to node k mod n), and this JVM joins them as a
 * gateway without devices — the layout of a real cluster, with every stage message serialized and
 * sent over Artery TCP whenever placement puts consecutive stages on different nodes. The same
 * on the hosts of the network-namespace test bed: {@link ActorsHostsTransport}.
 */
public class ActorsClusterTransport implements Transport {
    /** Most node processes a pipeline is spread over (the 2–4 JVM nodes). */
    static final int MAX_NODES = 4;
    /**
     * How long the node JVMs generate before measurements start: their JIT compiles the stage and
     * Artery code. 8 s was too short (2026-12-02 07:44–07:56: the same 4-stage row measured
     * 0.47 of ρ* with 8 s and 0.54 with 40 s, its remote hop 829 → 379 µs; a standalone node's
     * probes settle only after ~30–60 s of traffic).
     */
    private static final long WARMUP_NANOS = TimeUnit.SECONDS.toNanos(40);

    /**
     * Where the node JVMs run: on loopback, or each on a host of {@code cluster-configs/testbed.sh}
     * (own network stack), then with {@code delayNanos} ≥ 0 behind a {@link DelayingRelay} each.
     */
    protected record Hosts(boolean testBed, long delayNanos) {
        static final Hosts LOOPBACK = new Hosts(false, -1);
        static final String BRIDGE = "10.77.0.1";
    }

    private final String name;
    private final Hosts hosts;

    public ActorsClusterTransport() {
        this("actors-cluster", Hosts.LOOPBACK);
    }

    protected ActorsClusterTransport(String name, Hosts hosts) {
        this.name = name;
        this.hosts = hosts;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean opensOwnStages() {
        return true;
    }

    @Override
    public Decoder pipeline(PipelineSetup setup) {
        int stages = setup.plan().stageCount();
        int nodes = Math.min(MAX_NODES, Math.max(2, stages));
        Path work;
        try {
            work = Files.createTempDirectory("ppsd-bench-cluster");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String pipeline = PipelineHocon.of(setup) + """
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.remote.artery.canonical.port = 0
                """;
        if (hosts.testBed()) testBed("up", Integer.toString(nodes));
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.ppsd.actors")).setLevel(ch.qos.logback.classic.Level.WARN);
        ActorSystem<Void> gateway = PpsdNode.start(ConfigFactory.parseString(pipeline + """
                ppsd.node { roles = ["gateway"], devices = [] }
                pekko.coordinated-shutdown.exit-jvm = off
                """ + (hosts.testBed() ? "pekko.remote.artery.canonical.hostname = \"" + Hosts.BRIDGE + "\"\n" : "")));
        Cluster cluster = Cluster.get(gateway);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        int seedPort = (Integer) cluster.selfMember().address().getPort().orElseThrow();
        String seedHost = hosts.testBed() ? Hosts.BRIDGE : "127.0.0.1";
        List<NodeProcess> started = new ArrayList<>();
        List<DelayingRelay> relays = new ArrayList<>();
        Runnable stop = () -> {
            started.forEach(NodeProcess::stop);
            relays.forEach(DelayingRelay::close);
            ActorsTransport.terminate(gateway);
            if (hosts.testBed()) testBed("down");
            deleteTree(work);
        };
        try {
            for (int i = 0; i < nodes; i++) {
                int node = i;
                List<String> devices = IntStream.range(0, stages).filter(k -> k % nodes == node).mapToObj(setup.devices()::get).toList();
                Path conf = work.resolve("node" + i + ".conf");
                String address = "";
                List<String> prefix = List.of();
                if (hosts.testBed()) {
                    // Host i+1 of the bed; behind a relay, the node advertises the relay's address and binds its own.
                    String own = "10.77.0.1" + (i + 1);
                    address = "pekko.remote.artery { canonical.hostname = \"%s\", canonical.port = 25520 }\n".formatted(own);
                    if (hosts.delayNanos() >= 0) {
                        var relay = new DelayingRelay(new java.net.InetSocketAddress(Hosts.BRIDGE, 0), new java.net.InetSocketAddress(own, 25520), hosts.delayNanos());
                        relays.add(relay);
                        address = ("pekko.remote.artery { canonical.hostname = \"%s\", canonical.port = %d, bind.hostname = \"%s\", bind.port = 25520 }\n")
                                .formatted(Hosts.BRIDGE, relay.port(), own);
                    }
                    prefix = List.of(testBedScript().toString(), "run", Integer.toString(i + 1));
                }
                Files.writeString(conf, pipeline + address + """
                        ppsd.node { roles = ["stage-host"], devices = %s }
                        pekko.cluster.seed-nodes = ["pekko://ppsd@%s:%d"]
                        """.formatted(PipelineHocon.list(devices), seedHost, seedPort));
                started.add(NodeProcess.start(prefix, conf, work.resolve("node" + i + ".log")));
            }
            awaitMembers(gateway, nodes + 1, started);
            var decoder = new ClientDecoder(gateway, nodes + 1, stop);
            warmUp(decoder, setup.plan().numLayers());
            return decoder;
        } catch (IOException | RuntimeException e) {
            String logs = started.stream().map(NodeProcess::logTail).reduce("", String::concat);
            stop.run();
            throw new IllegalStateException("actor cluster of " + nodes + " node JVMs failed: " + e.getMessage() + logs, e);
        }
    }

    /** Generates until the node JVMs' compilers have seen the stage code, so it does not count against the measurement. */
    private static void warmUp(Decoder decoder, int layers) {
        int[] prompt = IntStream.rangeClosed(1, Math.max(4, layers)).toArray();
        long end = System.nanoTime() + WARMUP_NANOS;
        do {
            decoder.generate(GenerationRequest.greedy(prompt, 32), TokenListener.NONE);
        } while (System.nanoTime() < end);
    }

    private static void awaitMembers(ActorSystem<Void> system, int count, List<NodeProcess> nodes) {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < end) {
            int up = 0;
            for (var m : Cluster.get(system).state().getMembers()) if (m.status() == MemberStatus.up()) up++;
            if (up >= count) return;
            for (NodeProcess n : nodes) if (!n.process().isAlive()) throw new IllegalStateException("a node JVM exited with " + n.process().exitValue());
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the cluster formed");
            }
        }
        throw new IllegalStateException(count + " cluster members did not come up within 120 s");
    }

    private static void deleteTree(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a leftover temporary directory is not worth failing a benchmark for
        }
    }

    /** The test bed's script ({@code cluster-configs/testbed.sh}) from the repository root or a module folder. */
    private static Path testBedScript() {
        for (Path p : List.of(Path.of("cluster-configs/testbed.sh"), Path.of("../cluster-configs/testbed.sh"))) {
            if (Files.isExecutable(p)) return p.toAbsolutePath().normalize();
        }
        throw new IllegalStateException("cluster-configs/testbed.sh not found from " + Path.of("").toAbsolutePath());
    }

    private static void testBed(String... args) {
        List<String> command = new ArrayList<>(List.of(testBedScript().toString()));
        command.addAll(List.of(args));
        try {
            var p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("testbed.sh " + String.join(" ", args) + " failed (root and iproute2 are needed): " + out.strip());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** One {@code ppsd node} JVM, started with this JVM's class path and {@code ppsd.*}/{@code pekko.*} system properties. */
    record NodeProcess(Process process, Path log) {
        /** {@code prefix}: what runs the JVM (e.g. {@code testbed.sh run 2}), or nothing. */
        static NodeProcess start(List<String> prefix, Path conf, Path log) throws IOException {
            String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
            List<String> cmd = new ArrayList<>(prefix);
            cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                    "-Xss4m", "-Xmx1g", "-XX:+UseSerialGC"));
            // Settings given to the harness as -Dppsd.… or -Dpekko.… (the simulated profile, transport tuning) hold on every node.
            System.getProperties().stringPropertyNames().stream().filter(p -> p.startsWith("ppsd.") || p.startsWith("pekko.")).sorted()
                    .forEach(p -> cmd.add("-D" + p + "=" + System.getProperty(p)));
            cmd.addAll(List.of("-cp", cp, "io.ppsd.actors.cli.PpsdCli", "node", "--config", conf.toString()));
            var pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            return new NodeProcess(pb.start(), log);
        }

        void stop() {
            process.destroy();
            try {
                if (!process.waitFor(15, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }

        String logTail() {
            try {
                List<String> lines = Files.readAllLines(log);
                return "\n--- " + log.getFileName() + " ---\n" + String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
            } catch (IOException e) {
                return "";
            }
        }
    }
}
