package io.ppsd.actors.probe;

import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * Measures what the actor runtime adds per stage hop: sends {@link StageCommand.Probe}s, one at a
 * time, around a pipeline's stages (the path of the decode traffic) and reads each hop's time off
 * the stamps. Run it while the pipeline is idle and the figures are the messaging cost alone —
 * sharding lookup, mailbox, dispatcher wake-up and, between nodes, serialization and the network —
 * not time spent queued behind a stage's computation.
 *
 * <p>A hop's time is the receiver's clock minus the sender's, so it is meaningful only when both
 * read the same clock: stages in one JVM, or in several JVMs on one host (Linux's monotonic clock
 * is shared by all processes). Between hosts use the round trip of {@link #measure} instead.
 */
public final class HopProbe {
    /** {@code cycles} probes measured after {@code warmup} discarded, each carrying {@code payloadFloats} floats. */
    public record Settings(String pipeline, int cycles, int warmup, int payloadFloats, Duration timeout) {
        public Settings {
            if (cycles < 1 || warmup < 0 || payloadFloats < 0) throw new IllegalArgumentException("invalid probe settings");
        }
    }

    /** The hops of every measured probe, and each probe's whole round trip. */
    public record Result(List<Hop> hops, long[] roundTripNanos) {
        public List<HopLatency> latency() {
            return HopLatency.of(hops);
        }
    }

    private sealed interface Command {}

    private record Returned(StageCommand.Probe probe) implements Command {}

    private enum Lost implements Command { INSTANCE }

    private HopProbe() {}

    /**
     * Starts a prober on {@code system}, a cluster member on which the stage entity type is
     * initialized ({@link io.ppsd.actors.node.PpsdNode} does it); completes with the hops, or
     * exceptionally when a probe does not come back in time or the prober cannot run.
     */
    public static CompletionStage<Result> measure(ActorSystem<?> system, Settings settings) {
        var done = new CompletableFuture<Result>();
        system.systemActorOf(prober(settings, done), "hop-probe-" + UUID.randomUUID(), Props.empty());
        return done;
    }

    private static Behavior<Command> prober(Settings s, CompletableFuture<Result> done) {
        return Behaviors.setup(ctx -> {
            try {
                return probing(ctx, s, done);
            } catch (RuntimeException e) {
                done.completeExceptionally(new IllegalStateException("cannot probe pipeline '" + s.pipeline() + "': " + e.getMessage(), e));
                return Behaviors.stopped();
            }
        });
    }

    private static Behavior<Command> probing(ActorContext<Command> ctx, Settings s, CompletableFuture<Result> done) {
        return Behaviors.withTimers(timers -> {
            var stage0 = ClusterSharding.get(ctx.getSystem()).entityRefFor(StageEntity.TYPE_KEY, s.pipeline() + "/0");
            String node = Cluster.get(ctx.getSystem()).selfMember().address().toString();
            ActorRef<StageCommand.Probe> replyTo = ctx.messageAdapter(StageCommand.Probe.class, Returned::new);
            float[] payload = new float[s.payloadFloats()];
            for (int i = 0; i < payload.length; i++) payload[i] = (float) Math.sin(i);
            List<Hop> hops = new ArrayList<>();
            long[] roundTrips = new long[s.cycles()];
            int total = s.warmup() + s.cycles();
            int[] returned = {0};
            Runnable sendNext = () -> {
                timers.startSingleTimer(Lost.INSTANCE, s.timeout());
                stage0.tell(new StageCommand.Probe(returned[0], payload, List.of(new StageCommand.Probe.Stamp(-1, node, 0, System.nanoTime())), replyTo));
            };
            sendNext.run();
            return Behaviors.receive(Command.class)
                    .onMessage(Returned.class, r -> {
                        long now = System.nanoTime();
                        var trail = r.probe().trail();
                        if (returned[0] >= s.warmup()) {
                            for (int i = 1; i <= trail.size(); i++) {
                                var from = trail.get(i - 1);
                                boolean back = i == trail.size();
                                long arrived = back ? now : trail.get(i).receivedNanos();
                                String toNode = back ? node : trail.get(i).node();
                                hops.add(new Hop(from.stage(), back ? -1 : trail.get(i).stage(), !from.node().equals(toNode), arrived - from.sentNanos()));
                            }
                            roundTrips[returned[0] - s.warmup()] = now - trail.getFirst().sentNanos();
                        }
                        if (++returned[0] == total) {
                            timers.cancel(Lost.INSTANCE);
                            done.complete(new Result(List.copyOf(hops), roundTrips));
                            return Behaviors.stopped();
                        }
                        sendNext.run();
                        return Behaviors.same();
                    })
                    .onMessage(Lost.class, l -> {
                        done.completeExceptionally(new TimeoutException("a probe of pipeline '" + s.pipeline() + "' did not return within "
                                + s.timeout().toMillis() + " ms (" + returned[0] + " of " + total + " returned)"));
                        return Behaviors.stopped();
                    })
                    .onSignal(PostStop.class, stop -> {
                        done.completeExceptionally(new IllegalStateException("the prober stopped before it finished"));
                        return Behaviors.same();
                    })
                    .build();
        });
    }
}
