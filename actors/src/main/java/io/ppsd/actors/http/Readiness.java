package io.ppsd.actors.http;

import io.ppsd.actors.stage.PipelineDefinition;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * Whether the served pipelines can take requests: every stage allocated on a device and loaded.
 * Asks each stage entity for its {@link StageCommand.StageStatus} once a second (asking also
 * starts an entity that was not started yet, so serving begins with the stages loaded); a stage
 * that does not answer within the ask timeout has no device yet.
 */
final class Readiness {
    /** The latest answer: ready, and per stage "ready" or why not. */
    record State(boolean ready, Map<String, String> stages) {}

    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(2);

    private final ActorSystem<?> system;
    private final List<PipelineDefinition> pipelines;
    private volatile State state = new State(false, Map.of());

    Readiness(ActorSystem<?> system, List<PipelineDefinition> pipelines) {
        this.system = system;
        this.pipelines = pipelines;
    }

    State state() {
        return state;
    }

    void start() {
        system.scheduler().scheduleWithFixedDelay(Duration.ZERO, Duration.ofSeconds(1), this::poll, system.executionContext());
    }

    private void poll() {
        try {
            ask();
        } catch (RuntimeException e) {
            // The node is still starting (sharding not initialized yet): not ready, and ask again next time.
            state = new State(false, Map.of("node", "starting: " + e.getMessage()));
        }
    }

    private void ask() {
        var sharding = ClusterSharding.get(system);
        Map<String, CompletableFuture<String>> answers = new LinkedHashMap<>();
        for (PipelineDefinition p : pipelines) {
            for (int k = 0; k < p.stageCount(); k++) {
                String id = p.entityId(k);
                var ref = sharding.entityRefFor(StageEntity.TYPE_KEY, id);
                answers.put(id, ref.<StageCommand.StageStatus>ask(StageCommand.Status::new, ASK_TIMEOUT).toCompletableFuture()
                        .thenApply(s -> s.ready() ? "ready" : "failed: " + s.reason())
                        .exceptionally(e -> "no device yet (or its node is unreachable)"));
            }
        }
        CompletableFuture.allOf(answers.values().toArray(CompletableFuture[]::new)).orTimeout(ASK_TIMEOUT.toMillis() * 2, TimeUnit.MILLISECONDS)
                .whenComplete((ok, failure) -> {
                    Map<String, String> stages = new LinkedHashMap<>();
                    answers.forEach((id, f) -> stages.put(id, f.getNow("no answer")));
                    boolean ready = !stages.isEmpty() && stages.values().stream().allMatch("ready"::equals);
                    state = new State(ready, stages);
                });
    }
}
