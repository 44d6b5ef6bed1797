package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.protocol.FailureCode;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client whose gateway goes away mid-request gets a clear failure instead of a future that never
 * completes: {@link PpsdClient} watches the gateway it sent to.
 */
class GatewayLossTest {
    @TempDir
    Path tmp;

    @Test
    void aLostGatewayFailsTheRequest() throws Exception {
        var model = RandomModel.small(21);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 1f);
        String common = """
                ppsd.pipelines.default { model = "%1$s", head = "norm", exit-layer = 2 }
                ppsd.test.chaos { enabled = on, seed = 5, max-delay-micros = 3000 }
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """.formatted(dir.toString().replace("\\", "/"));
        try (var cluster = new LocalCluster(ConfigFactory.parseString(common), List.of(
                "ppsd.node { roles = [\"gateway\", \"stage-host\"], devices = [\"cpu:0\", \"cpu:1\", \"cpu:2\", \"cpu:3\"] }",
                "ppsd.node { roles = [\"client\"], devices = [] }"))) {
            var started = new CountDownLatch(1);
            var request = new PpsdClient(cluster.node(1)).start(null, model.prompt(3, 4), GenerateParams.builder(240).ignoreEos(true).build(), e -> {
                if (e instanceof GenerationEvent.Token) started.countDown();
            });
            assertTrue(started.await(60, TimeUnit.SECONDS), "the request is under way");
            long t0 = System.nanoTime();
            cluster.node(0).terminate(); // the gateway's node leaves
            var e = assertThrows(ExecutionException.class, () -> request.result().toCompletableFuture().get(60, TimeUnit.SECONDS));
            var failure = (PpsdClient.GenerationFailedException) e.getCause();
            assertEquals(FailureCode.UNAVAILABLE, failure.code(), failure.getMessage());
            assertTrue(failure.reason().contains("gateway stopped"), failure.reason());
            System.err.println("failed " + (System.nanoTime() - t0) / 1_000_000 + " ms after the gateway's node stopped");
        }
    }
}
