package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.stage.DeviceSlots;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Placement never double-books a device: a pipeline with more stages than the cluster has free
 * devices gets only as many stages as there are devices; the request fails clearly instead of
 * hanging; a pipeline that fits runs on a second node that joins later.
 */
class DevicePlacementTest {
    @TempDir
    Path tmp;

    @Test
    void stagesWaitForFreeDevicesInsteadOfDoubleBooking() throws Exception {
        var model = RandomModel.small(12);
        Path dir = TestModels.write(model, tmp.resolve("m"), 2, 1f);
        String common = """
                ppsd.pipelines.default { model = "%1$s", head = "norm", exit-layer = 2 }
                ppsd.pipelines.toobig { model = "%1$s", head = "norm", exit-layer = 1, stage-sizes = [1, 1, 1, 1, 1, 1, 1, 1] }
                ppsd.session { stall-timeout = 2s, max-rebuilds = 1 }
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """.formatted(dir.toString().replace("\\", "/"));
        try (var cluster = new LocalCluster(ConfigFactory.parseString(common), List.of(
                "ppsd.node { roles = [\"gateway\", \"stage-host\"], devices = [\"cpu:0\", \"cpu:1\", \"cpu:2\"] }"))) {
            var client = new PpsdClient(cluster.node(0));
            var e = assertThrows(ExecutionException.class, () -> client.generate(model.prompt(1, 3), GenerateParams.greedy(5).withPipeline("toobig"))
                    .toCompletableFuture().get(60, TimeUnit.SECONDS));
            String reason = e.getCause().getMessage();
            assertTrue(reason.contains("unallocated for want of a free device"), reason);
            String held = DeviceSlots.get(cluster.node(0)).describe();
            assertEquals(3, held.split("=", -1).length - 1, "exactly the 3 devices are held, once each: " + held);
        }
        // With a second stage host, a 4-stage pipeline fits on 3 + 3 devices across the nodes.
        try (var cluster = new LocalCluster(ConfigFactory.parseString(common), List.of(
                "ppsd.node { roles = [\"gateway\", \"stage-host\"], devices = [\"cpu:0\", \"cpu:1\", \"cpu:2\"] }",
                "ppsd.node { roles = [\"stage-host\"], devices = [\"cpu:0\", \"cpu:1\", \"cpu:2\"] }"))) {
            int[] prompt = model.prompt(2, 5);
            var done = new PpsdClient(cluster.node(0)).generate(prompt, GenerateParams.greedy(8)).toCompletableFuture().get(60, TimeUnit.SECONDS);
            assertArrayEquals(TestModels.autoregressive(dir, prompt, 8), done.tokenIds());
        }
    }
}
