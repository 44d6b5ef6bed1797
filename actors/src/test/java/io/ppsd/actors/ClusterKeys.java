package io.ppsd.actors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * TLS keys for the tests, made once per test JVM by the shipped {@code make-cluster-keys.sh} into
 * a temporary folder: the cluster's (node-a, node-b, client) and an intruder's (its own CA, a
 * node-b keystore), both runs at once. Deleted when the JVM exits.
 */
final class ClusterKeys {
    private ClusterKeys() {}

    /**
     * {@code intruderTrustStore}: the intruder's own CA and the cluster's, so that the intruder
     * accepts the cluster's certificates (a CA certificate is no secret) and only the cluster's
     * check of the intruder's certificate can keep it out.
     */
    record Dirs(Path cluster, Path intruder, Path intruderTrustStore) {}

    private static Dirs dirs;

    static synchronized Dirs get() {
        if (dirs != null) return dirs;
        try {
            Path root = Files.createTempDirectory("ppsd-keys");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(root)));
            Path cluster = root.resolve("cluster");
            Path intruder = root.resolve("intruder");
            Process a = make(cluster, root.resolve("cluster.log"), "node-a", "node-b", "client");
            Process b = make(intruder, root.resolve("intruder.log"), "node-b");
            for (var p : List.of(a, b)) {
                if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    a.destroyForcibly();
                    b.destroyForcibly();
                    throw new IllegalStateException("make-cluster-keys.sh failed: " + Files.readString(root.resolve("cluster.log"))
                            + Files.readString(root.resolve("intruder.log")));
                }
            }
            Path both = intruder.resolve("truststore-both.p12");
            char[] password = "ppsd-cluster".toCharArray();
            KeyStore trust = KeyStore.getInstance("PKCS12");
            try (var in = Files.newInputStream(intruder.resolve("truststore.p12"))) {
                trust.load(in, password);
            }
            try (var in = Files.newInputStream(cluster.resolve("ca.crt"))) {
                trust.setCertificateEntry("cluster-ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
            }
            try (var out = Files.newOutputStream(both)) {
                trust.store(out, password);
            }
            dirs = new Dirs(cluster, intruder, both);
            return dirs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Process make(Path dir, Path log, String... names) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("bash", Path.of("../cluster-configs/make-cluster-keys.sh").toAbsolutePath().toString(), dir.toString()));
        cmd.addAll(List.of(names));
        var pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("PPSD_TLS_PASSWORD");
        return pb.start();
    }

    private static void delete(Path root) {
        try (Stream<Path> files = Files.walk(root)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort
        }
    }
}
