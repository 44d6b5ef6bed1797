package io.ppsd.actors.stage;

import io.ppsd.actors.session.SessionCommand;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.pipespec.ModelLevel;
import io.ppsd.runtime.pipespec.PipeSpecDecoder;
import io.ppsd.runtime.pipespec.PipeSpecStage;
import io.ppsd.runtime.pipespec.PpsdTarget;
import io.ppsd.runtime.ppsd.DrafterStage;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.PipelineOutbox;
import io.ppsd.runtime.ppsd.PipelineStage;
import io.ppsd.runtime.ppsd.SequenceFailedException;
import io.ppsd.runtime.ppsd.StageReport;
import io.ppsd.runtime.stage.Device;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageExecutorFactory;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * One pipeline stage as a cluster-sharded entity ({@code <pipeline>/<stage>}): it takes a device of
 * its node, loads only its layers (plus embedding, exit head or LM head by position) onto it, holds
 * the KV caches of the sequences it serves and runs the PPSD protocol of its role — drafter (stage
 * 0), relay, or verifier (last). It runs on a dedicated pinned dispatcher, so compute never blocks
 * the default one. Stage 0 drafts one position per {@link StageCommand.Step} so rollbacks in the
 * mailbox are seen between positions and several sequences are served in turn. It sends to the
 * other stages through {@link StageLink}s: direct to their actors once they answered its
 * introduction ({@code ppsd.stage.direct-paths}), the entity path before that and after one stopped.
 */
public final class StageEntity extends AbstractBehavior<StageCommand> {
    public static final EntityTypeKey<StageCommand> TYPE_KEY = EntityTypeKey.create(StageCommand.class, "ppsd-stage");

    private final String entityId;
    private final PipelineDefinition pipeline;
    private final int stageIndex;
    private final Device device;
    private final StageExecutor executor;
    private final PipelineStage logic;
    /** The path to each stage of the pipeline (this one's own: always the entity path). */
    private final StageLink[] links;
    private final boolean directPaths;
    private final java.time.Duration introductionTimeout;
    /** Test only ({@code ppsd.test.chaos}): delaying links in front of each path, else null. */
    private final com.typesafe.config.Config chaos;
    private final Map<Long, ActorRef<SessionCommand>> sessions = new HashMap<>();
    /** This node's cluster address, for the stamps of probes. */
    private final String node;
    private boolean stepPending;
    private boolean flushPending;
    private final io.ppsd.runtime.ppsd.PendingRows pending = new io.ppsd.runtime.ppsd.PendingRows();
    /** This stage's busy time and sequence count in the node's metrics (resolved once: they are updated per message). */
    private final java.util.concurrent.atomic.AtomicLong busyNanos;
    private final java.util.concurrent.atomic.AtomicInteger sequenceGauge;
    /** The sequence of the last message, so the sequences gauge is set when the mix changes, not per token. */
    private long lastSeq = -1;

    public static Behavior<StageCommand> create(String entityId, PipelineRegistry pipelines) {
        return Behaviors.setup(ctx -> {
            PipelineDefinition def;
            int index;
            try {
                var id = PipelineDefinition.StageId.parse(entityId);
                def = pipelines.get(id.pipeline());
                index = id.stage();
                if (index < 0 || index >= def.stageCount()) {
                    throw new IllegalArgumentException("pipeline '" + def.name() + "' has " + def.stageCount() + " stages, no stage " + index);
                }
            } catch (RuntimeException e) {
                return failed(ctx, entityId, e.getMessage());
            }
            DeviceSlots slots = DeviceSlots.get(ctx.getSystem());
            Optional<Device> device = slots.acquire(entityId);
            if (device.isEmpty()) {
                return failed(ctx, entityId, "no free device on this node (" + slots.describe() + ")");
            }
            try {
                long t0 = System.nanoTime();
                ModelFiles files = ModelFiles.open(def.modelDir(index));
                StageExecutor executor;
                try {
                    executor = StageExecutorFactory.forBackend(device.get().backend()).open(files, def.spec(index), device.get(), LoadProgress.NONE);
                } catch (RuntimeException e) {
                    files.close();
                    throw e;
                }
                ctx.getLog().info("stage {} loaded {} on {} in {} ms", entityId, def.spec(index), device.get(), (System.nanoTime() - t0) / 1_000_000);
                slots.markLoaded(entityId);
                return new StageEntity(ctx, entityId, def, index, device.get(), executor, files);
            } catch (RuntimeException e) {
                slots.release(device.get(), entityId);
                return failed(ctx, entityId, "failed to load: " + e.getMessage());
            }
        });
    }

    /** A stage that cannot serve: every sequence sent to it fails with the reason, the node keeps running. */
    private static Behavior<StageCommand> failed(ActorContext<StageCommand> ctx, String entityId, String reason) {
        ctx.getLog().error("stage {} cannot serve: {}", entityId, reason);
        return Behaviors.receive(StageCommand.class)
                .onMessage(StageCommand.Deliver.class, d -> {
                    if (d.session() != null) d.session().tell(new SessionCommand.StageFailed(d.message().seq(), entityId, reason, null));
                    return Behaviors.same();
                })
                .onMessage(StageCommand.Step.class, s -> Behaviors.same())
                .onMessage(StageCommand.Probe.class, p -> Behaviors.same())
                .onMessage(StageCommand.Introduce.class, i -> Behaviors.same()) // unanswered: senders stay on the entity path, and hear why
                .onMessage(StageCommand.Status.class, q -> {
                    if (q.replyTo() != null) q.replyTo().tell(new StageCommand.StageStatus(entityId, false, reason, 0, 0));
                    return Behaviors.same();
                })
                .build();
    }

    private final ModelFiles files;

    @SuppressWarnings("unchecked")
    private StageEntity(ActorContext<StageCommand> ctx, String entityId, PipelineDefinition pipeline, int stageIndex,
                        Device device, StageExecutor executor, ModelFiles files) {
        super(ctx);
        this.entityId = entityId;
        this.pipeline = pipeline;
        this.stageIndex = stageIndex;
        this.device = device;
        this.executor = executor;
        this.files = files;
        this.node = Cluster.get(ctx.getSystem()).selfMember().address().toString();
        var metrics = io.ppsd.actors.metrics.ServingMetrics.get(ctx.getSystem());
        this.busyNanos = metrics.stageBusy(entityId);
        this.sequenceGauge = metrics.stageSequences(entityId);
        var sharding = ClusterSharding.get(ctx.getSystem());
        var config = ctx.getSystem().settings().config();
        var chaosConfig = config.getConfig("ppsd.test.chaos");
        this.chaos = chaosConfig.getBoolean("enabled") ? chaosConfig : null;
        this.directPaths = config.getBoolean("ppsd.stage.direct-paths");
        this.introductionTimeout = config.getDuration("ppsd.stage.introduction-timeout");
        this.links = new StageLink[pipeline.stageCount()];
        for (int k = 0; k < links.length; k++) {
            EntityRef<StageCommand> entity = sharding.entityRefFor(TYPE_KEY, pipeline.entityId(k));
            links[k] = new StageLink(stageIndex, k, chaos == null ? entity : chaosLink(entity, "chaos-link-" + k, k));
        }
        if (pipeline.pipespec()) {
            var level = new ModelLevel(pipeline.modelDir(stageIndex).getFileName().toString(), List.of(executor));
            var window = pipeline.verifyWindow();
            this.logic = new PipeSpecStage(stageIndex, pipeline.stageCount(), level, window, PipeSpecDecoder.defaultLead(window), pipeline.waitForDrafts(),
                    new Outbox());
        } else if (pipeline.ppsdTarget() && pipeline.draftModelAt(stageIndex) >= 0) {
            // A draft model under a PPSD target: a PipeSpec level whose level above is the target's stage 0.
            var level = new ModelLevel(pipeline.modelDir(stageIndex).getFileName().toString(), List.of(executor));
            var window = pipeline.verifyWindow();
            this.logic = PpsdTarget.draftStage(pipeline.draftModelAt(stageIndex), pipeline.draftConfigs().size(), pipeline.targetStages(), level, window,
                    PipeSpecDecoder.defaultLead(window), pipeline.waitForDrafts(), new Outbox());
        } else {
            var drafts = pipeline.ppsdTarget()
                    ? new DrafterStage.DraftModels(PpsdTarget.highestDraftStage(pipeline.targetStages(), pipeline.draftConfigs().size()), pipeline.stageZeroWaits())
                    : null;
            this.logic = PipelineStage.forStage(stageIndex, pipeline.targetStages(), executor, pipeline.prefillChunk(), drafts, new Outbox());
        }
        if (directPaths) for (StageLink link : links) if (link.to() != stageIndex) introduce(link);
    }

    /** A test-only delaying link in front of {@code target} (chaos runs). */
    private org.apache.pekko.actor.typed.RecipientRef<StageCommand> chaosLink(org.apache.pekko.actor.typed.RecipientRef<StageCommand> target, String name, int k) {
        return getContext().spawn(ChaosLink.create(target, chaos.getLong("seed") * 131 + stageIndex * 17 + k + name.hashCode(), chaos.getInt("max-delay-micros")),
                name, org.apache.pekko.actor.typed.DispatcherSelector.fromConfig("ppsd.stage-dispatcher"));
    }

    private void introduce(StageLink link) {
        long attempt = link.introduce(getContext().getSelf());
        getContext().scheduleOnce(introductionTimeout, getContext().getSelf(), new StageCommand.IntroductionDue(link.to(), attempt));
    }

    /** Another stage asks for the direct path to this one: everything it sent on the entity path before is in (FIFO), so answer. */
    private Behavior<StageCommand> onIntroduce(StageCommand.Introduce i) {
        i.replyTo().tell(new StageCommand.Welcome(stageIndex, i.attempt(), getContext().getSelf()));
        return this;
    }

    private Behavior<StageCommand> onWelcome(StageCommand.Welcome w) {
        if (w.fromStage() < 0 || w.fromStage() >= links.length) return this;
        StageLink link = links[w.fromStage()];
        var path = chaos == null ? w.stage() : chaosLink(w.stage(), "chaos-direct-" + w.fromStage() + "-" + w.attempt(), w.fromStage());
        if (link.welcomed(w, path)) {
            getContext().watch(w.stage());
            getContext().getLog().debug("stage {}: direct path to stage {} ({})", entityId, w.fromStage(), w.stage().path());
        }
        return this;
    }

    private Behavior<StageCommand> onIntroductionDue(StageCommand.IntroductionDue d) {
        StageLink link = links[d.toStage()];
        if (link.timedOut(d.attempt())) {
            var retry = introductionTimeout.multipliedBy(1L << Math.min(6, link.unanswered()));
            getContext().getLog().info("stage {}: stage {} did not answer within {} ms; on the entity path, trying again in {} ms", entityId, d.toStage(),
                    introductionTimeout.toMillis(), retry.toMillis());
            getContext().scheduleOnce(retry, getContext().getSelf(), new StageCommand.Reintroduce(d.toStage()));
        }
        return this;
    }

    /**
     * A stage this one sent to directly stopped (its node was lost, or sharding moved it): the
     * link goes back to the entity path, and the sessions rebuild now rather than at their stall
     * timeout — what was in flight to the stage, and its caches, are gone.
     */
    private Behavior<StageCommand> onTerminated(org.apache.pekko.actor.typed.Terminated t) {
        for (StageLink link : links) {
            if (!link.stopped(t.getRef())) continue;
            String reason = "stage " + pipeline.entityId(link.to()) + " stopped";
            getContext().getLog().info("stage {}: {}; back on the entity path, {} session(s) told to rebuild", entityId, reason, sessions.size());
            for (var e : sessions.entrySet()) e.getValue().tell(new SessionCommand.StageFailed(e.getKey(), entityId, reason, null));
            getContext().scheduleOnce(introductionTimeout, getContext().getSelf(), new StageCommand.Reintroduce(link.to()));
        }
        return this;
    }

    @Override
    public Receive<StageCommand> createReceive() {
        return newReceiveBuilder()
                .onMessage(StageCommand.Deliver.class, this::onDeliver)
                .onMessage(StageCommand.Step.class, s -> onStep())
                .onMessage(StageCommand.Flush.class, f -> {
                    flushPending = false;
                    flush();
                    return this;
                })
                .onMessage(StageCommand.Probe.class, this::onProbe)
                .onMessage(StageCommand.Status.class, q -> {
                    int direct = 0;
                    for (StageLink link : links) if (link.isDirect()) direct++;
                    if (q.replyTo() != null) q.replyTo().tell(new StageCommand.StageStatus(entityId, true, "", logic.activeSequences(), direct));
                    return this;
                })
                .onMessage(StageCommand.Introduce.class, this::onIntroduce)
                .onMessage(StageCommand.Welcome.class, this::onWelcome)
                .onMessage(StageCommand.IntroductionDue.class, this::onIntroductionDue)
                .onMessage(StageCommand.Reintroduce.class, r -> {
                    if (directPaths && links[r.toStage()].onEntityPath()) introduce(links[r.toStage()]);
                    return this;
                })
                .onSignal(org.apache.pekko.actor.typed.Terminated.class, this::onTerminated)
                .onSignal(PostStop.class, s -> onStop())
                .build();
    }

    private Behavior<StageCommand> onDeliver(StageCommand.Deliver d) {
        PipelineMessage m = d.message();
        if (d.session() != null && !(m instanceof PipelineMessage.Finish)) sessions.put(m.seq(), d.session());
        if (!logic.takesSteps()) {
            // Decode rows wait for a Flush so that rows queued behind them join the same call.
            if (pending.offer(m)) {
                if (!flushPending) {
                    flushPending = true;
                    getContext().getSelf().tell(StageCommand.Flush.INSTANCE);
                }
                return this;
            }
            flush();
            if (pending.offer(m)) return this; // a second row of a sequence whose first just ran
        }
        handle(m, d.session());
        return this;
    }

    /** Runs the decode rows gathered so far as one call. */
    private void flush() {
        PipelineMessage m = pending.drain();
        if (m != null) handle(m, null);
    }

    private void handle(PipelineMessage m, ActorRef<SessionCommand> deliveredSession) {
        long start = System.nanoTime();
        try {
            logic.handle(m);
        } catch (RuntimeException e) {
            // Bad input for one sequence (a token id outside the vocabulary, a context overflow):
            // fail that sequence (those named, or every one of a batch), keep serving the others.
            long[] failed = e instanceof SequenceFailedException f ? f.seqs()
                    : m instanceof PipelineMessage.Batch b ? b.parts().stream().mapToLong(PipelineMessage.Hidden::seq).toArray() : new long[] {m.seq()};
            Throwable cause = e instanceof SequenceFailedException && e.getCause() != null ? e.getCause() : e;
            for (long seq : failed) {
                getContext().getLog().warn("stage {} failed sequence {}: {}", entityId, seq, e.toString());
                ActorRef<SessionCommand> session = sessions.getOrDefault(seq, deliveredSession);
                if (session != null) session.tell(new SessionCommand.StageFailed(seq, entityId, cause.getMessage(), codeOf(cause)));
                logic.handle(new PipelineMessage.Finish(seq));
            }
        }
        if (m instanceof PipelineMessage.Finish) {
            sessions.remove(m.seq());
            sequenceGauge.set(logic.activeSequences());
        } else if (m instanceof PipelineMessage.Begin || m.seq() != lastSeq) {
            lastSeq = m.seq();
            sequenceGauge.set(logic.activeSequences());
        }
        busyNanos.addAndGet(System.nanoTime() - start);
        scheduleStep();
    }

    private Behavior<StageCommand> onStep() {
        stepPending = false;
        long start = System.nanoTime();
        try {
            boolean worked = logic.step();
            if (worked) busyNanos.addAndGet(System.nanoTime() - start);
            if (worked) scheduleStep();
        } catch (SequenceFailedException e) {
            for (long seq : e.seqs()) {
                getContext().getLog().warn("stage {} failed drafting sequence {}: {}", entityId, seq, e.getCause().toString());
                ActorRef<SessionCommand> session = sessions.remove(seq);
                if (session != null) session.tell(new SessionCommand.StageFailed(seq, entityId, e.getCause().getMessage(), codeOf(e.getCause())));
            }
            scheduleStep();
        } catch (RuntimeException e) {
            getContext().getLog().error("stage {} failed while drafting: {}", entityId, e.toString());
        }
        return this;
    }

    /** Passes a probe on along the decode path (k → k+1, last → 0), or back to its prober after a full cycle. */
    private Behavior<StageCommand> onProbe(StageCommand.Probe p) {
        long received = System.nanoTime();
        boolean cycleDone = stageIndex == 0 && p.passedStageZero();
        StageCommand.Probe forwarded = p.stamped(new StageCommand.Probe.Stamp(stageIndex, node, received, System.nanoTime()));
        if (cycleDone) p.replyTo().tell(forwarded);
        else links[stageIndex == links.length - 1 ? 0 : stageIndex + 1].send(forwarded);
        return this;
    }

    /** How a failure ends the request, when a rebuild of the pipeline would meet it again (null: a rebuild may help). */
    private static io.ppsd.actors.protocol.FailureCode codeOf(Throwable e) {
        if (e instanceof io.ppsd.runtime.stage.KvBudget.Exceeded) return io.ppsd.actors.protocol.FailureCode.OVERLOADED;
        if (e instanceof io.ppsd.runtime.decode.Sampler.NonFiniteLogitsException) return io.ppsd.actors.protocol.FailureCode.INTERNAL;
        return null;
    }

    private void scheduleStep() {
        if (logic.takesSteps() && !stepPending) {
            stepPending = true;
            getContext().getSelf().tell(StageCommand.Step.INSTANCE);
        }
    }

    private Behavior<StageCommand> onStop() {
        executor.close();
        files.close();
        DeviceSlots.get(getContext().getSystem()).release(device, entityId);
        getContext().getLog().info("stage {} stopped, released {}", entityId, device);
        return this;
    }

    private void send(int stage, StageCommand.Deliver message) {
        links[stage].send(message);
    }

    /** Where the protocol logic's messages go: other stage entities and the sessions. */
    private final class Outbox implements PipelineOutbox {
        @Override
        public void downstream(PipelineMessage.Hidden message) {
            send(stageIndex + 1, new StageCommand.Deliver(message, sessions.get(message.seq())));
        }

        @Override
        public void downstream(PipelineMessage.Batch message) {
            // Every stage learnt each sequence's session from its first prefill chunk.
            send(stageIndex + 1, new StageCommand.Deliver(message, null));
        }

        @Override
        public void toDrafter(PipelineMessage message) {
            send(0, new StageCommand.Deliver(message, sessions.get(message.seq())));
        }

        @Override
        public void toRelays(PipelineMessage message) {
            for (int k = 1; k < pipeline.targetStages() - 1; k++) send(k, new StageCommand.Deliver(message, sessions.get(message.seq())));
        }

        @Override
        public void toStage(int stage, PipelineMessage message) {
            send(stage, new StageCommand.Deliver(message, sessions.get(message.seq())));
        }

        @Override
        public void toAll(PipelineMessage.Finish message) {
            ActorRef<SessionCommand> session = sessions.get(message.seq());
            for (int k = 0; k < links.length; k++) send(k, new StageCommand.Deliver(message, session));
        }

        @Override
        public void committed(long seq, int pos, int token, boolean wasDraft) {
            ActorRef<SessionCommand> s = sessions.get(seq);
            if (s != null) s.tell(new SessionCommand.Committed(seq, pos, token, wasDraft));
        }

        @Override
        public void report(long seq, StageReport r) {
            ActorRef<SessionCommand> s = sessions.get(seq);
            if (s != null) s.tell(new SessionCommand.Reported(seq, r));
        }
    }
}
