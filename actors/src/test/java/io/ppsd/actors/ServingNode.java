package io.ppsd.actors;

import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.http.HttpSettings;
import io.ppsd.actors.http.OpenAiServer;
import io.ppsd.actors.node.PpsdNode;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.runtime.testing.RandomModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * The HTTP tests' server: an embedded node (pipeline "default" of 4 stages over a random model
 * with the shipped tokenizer and chat template) with the OpenAI API in front of it, on port 0.
 */
final class ServingNode implements AutoCloseable {
    /** Vocabulary 4096, so the shipped tokenizer's ids fit; context 128. */
    static final RandomModel MODEL = new RandomModel(8, 32, 4, 2, 48, 4096, 128, 4);

    final ActorSystem<Void> system;
    final Path modelDir;
    private final PipelineRegistry registry;

    /** {@code extraConfig}: HOCON over the node's own (%1$s is the model directory), e.g. gateway limits and chaos. */
    private ServingNode(Path tmp, String extraConfig, java.util.function.Consumer<Path> beside) {
        modelDir = TestModels.write(MODEL, tmp.resolve("m"), 2, 0.5f);
        beside.accept(modelDir);
        try {
            Files.copy(Path.of("../models/ppsd-mini/tokenizer_config.json"), modelDir.resolve("tokenizer_config.json"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String conf = ("""
                ppsd.pipelines.default { model = "%1$s", head = "norm", exit-layer = 2 }
                ppsd.node.devices = ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
                pekko.remote.artery.canonical.port = 0
                """ + extraConfig).formatted(modelDir.toString().replace("\\", "/"));
        var own = ConfigFactory.parseString(conf);
        system = PpsdNode.startAlone(own);
        registry = new PipelineRegistry(PpsdNode.configure(own));
    }

    static ServingNode start(Path tmp, String extraConfig) {
        return new ServingNode(tmp, extraConfig, dir -> {});
    }

    /** {@code beside}: writes more model directories (e.g. draft models) next to the model before the node starts. */
    static ServingNode start(Path tmp, String extraConfig, java.util.function.Consumer<Path> beside) {
        return new ServingNode(tmp, extraConfig, beside);
    }

    /** Binds a front end serving {@code models} (name → pipeline) with these keys; its base URL (no /v1). */
    String serve(List<String> keys, Map<String, String> models) throws Exception {
        var settings = new HttpSettings("127.0.0.1", 0, keys, models, 64 * 1024, false);
        var binding = OpenAiServer.start(system, settings, registry).toCompletableFuture().get(30, TimeUnit.SECONDS);
        return "http://127.0.0.1:" + binding.localAddress().getPort();
    }

    /** Sequences holding caches on the stages of pipeline "default" (each stage answers for itself). */
    int sequencesOnStages() throws Exception {
        var sharding = ClusterSharding.get(system);
        int total = 0;
        for (int k = 0; k < 4; k++) {
            var status = sharding.entityRefFor(StageEntity.TYPE_KEY, "default/" + k)
                    .<StageCommand.StageStatus>ask(StageCommand.Status::new, Duration.ofSeconds(5)).toCompletableFuture().get(10, TimeUnit.SECONDS);
            total += status.sequences();
        }
        return total;
    }

    @Override
    public void close() {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
    }
}
