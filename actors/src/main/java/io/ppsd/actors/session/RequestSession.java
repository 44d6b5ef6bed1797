package io.ppsd.actors.session;

import io.ppsd.actors.metrics.ServingMetrics;
import io.ppsd.actors.protocol.FailureCode;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.stage.PipelineDefinition;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.SequenceAccount;
import io.ppsd.runtime.tokenizer.TokenTextStream;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/**
 * One request on the actor pipeline: streams each committed token to the requester, applies the
 * request's stop rules, deadline and cancellation (the bookkeeping is the runtime's
 * {@link SequenceAccount}, shared with the in-process pipeline), and releases the sequence on
 * every stage when done.
 *
 * <p>KV caches die with their node; committed tokens do not. When the pipeline makes no progress
 * for {@code stallTimeout} (a stage was lost and restarted elsewhere, empty) or a stage reports a
 * failure, the session rebuilds: it starts a new attempt (a new sequence id, so late messages of
 * the old one are ignored everywhere) whose prompt is the original prompt plus the tokens committed
 * so far. Under greedy decoding the client sees exactly the tokens it would have seen without the
 * failure. After {@code maxRebuilds} attempts, or past the deadline, the request fails clearly.
 */
public final class RequestSession extends AbstractBehavior<SessionCommand> {

    /** Session settings from {@code ppsd.session}. */
    public record Settings(Duration stallTimeout, int maxRebuilds, Duration reportWait) {
        public static Settings fromConfig(com.typesafe.config.Config c) {
            return new Settings(c.getDuration("ppsd.session.stall-timeout"), c.getInt("ppsd.session.max-rebuilds"),
                    c.getDuration("ppsd.session.report-wait"));
        }
    }

    private final String requestId;
    private final GenerationRequest request;
    private final long deadlineMillis;
    private final PipelineDefinition pipeline;
    private final Settings settings;
    private final ActorRef<GenerationEvent> replyTo;
    private final SequenceAccount account;
    private final TokenTextStream text;
    private final StringBuilder fullText = new StringBuilder();
    private final EntityRef<StageCommand>[] stages;
    private final long deadlineNanos;
    private final long startNanos;
    private final ServingMetrics metrics;
    private long lastTokenNanos;

    private long seq;
    private int attempts;
    private long lastProgressNanos;
    private String lastFailure;
    private boolean finishing;
    private long finishingSince;

    /** {@code request} holds the prompt ids (BOS included), budget, sampling and every stop rule of the request. */
    public static Behavior<SessionCommand> create(String requestId, GenerationRequest request, long deadlineMillis, PipelineDefinition pipeline,
                                                  Tokenizer tokenizer, Settings settings, ActorRef<GenerationEvent> replyTo) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new RequestSession(ctx, timers, requestId, request, deadlineMillis, pipeline, tokenizer, settings, replyTo)));
    }

    @SuppressWarnings("unchecked")
    private RequestSession(ActorContext<SessionCommand> ctx, TimerScheduler<SessionCommand> timers, String requestId, GenerationRequest request,
                           long deadlineMillis, PipelineDefinition pipeline, Tokenizer tokenizer, Settings settings,
                           ActorRef<GenerationEvent> replyTo) {
        super(ctx);
        long start = System.nanoTime();
        this.startNanos = start;
        this.metrics = ServingMetrics.get(ctx.getSystem());
        this.requestId = requestId;
        this.request = request;
        this.deadlineMillis = deadlineMillis;
        this.pipeline = pipeline;
        this.settings = settings;
        this.replyTo = replyTo;
        this.text = tokenizer.newTextStream();
        this.account = pipeline.pipespec()
                ? new SequenceAccount(request, this::emit, pipeline.contextLength(), pipeline.stageCount(), SequenceAccount.Clock.VERIFY_CALLS, start)
                : new SequenceAccount(request, this::emit, pipeline.contextLength(), pipeline.targetStages(), pipeline.stageCount() - pipeline.targetStages(),
                        SequenceAccount.Clock.PPSD, start);
        this.deadlineNanos = start + Duration.ofMillis(Math.max(1, deadlineMillis)).toNanos();
        var sharding = ClusterSharding.get(ctx.getSystem());
        this.stages = new EntityRef[pipeline.stageCount()];
        for (int k = 0; k < stages.length; k++) stages[k] = sharding.entityRefFor(StageEntity.TYPE_KEY, pipeline.entityId(k));
        timers.startTimerWithFixedDelay(new SessionCommand.Tick(), Duration.ofMillis(200));
        if (account.done()) {
            finishing = true;
            finishingSince = System.nanoTime();
        } else {
            beginAttempt();
        }
    }

    private void beginAttempt() {
        attempts++;
        seq = ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE;
        account.newAttempt();
        int[] tokens = account.committedPath();
        int maxLength = Math.min(pipeline.contextLength(), request.prompt().length + request.maxNewTokens());
        // Under sampling a rebuilt attempt draws from a fresh stream: the distribution is unchanged.
        SamplingParams s = attempts > 1 ? request.sampling().withSeed(request.sampling().seed() + attempts) : request.sampling();
        var seqParams = new PipelineMessage.SequenceParams(tokens, maxLength, s, request.stopTokens(), pipeline.window());
        lastProgressNanos = System.nanoTime();
        if (attempts > 1) getContext().getLog().info("request {}: rebuilding the pipeline state (attempt {}), re-prefilling {} tokens", requestId, attempts, tokens.length);
        stages[0].tell(new StageCommand.Deliver(new PipelineMessage.Begin(seq, seqParams), getContext().getSelf()));
    }

    @Override
    public Receive<SessionCommand> createReceive() {
        return newReceiveBuilder()
                .onMessage(SessionCommand.Committed.class, this::onCommitted)
                .onMessage(SessionCommand.Reported.class, this::onReported)
                .onMessage(SessionCommand.StageFailed.class, this::onStageFailed)
                .onMessage(SessionCommand.Cancel.class, c -> fail(FailureCode.CANCELLED, "cancelled"))
                .onMessage(SessionCommand.Tick.class, t -> onTick())
                .build();
    }

    private void emit(int token) {
        long now = System.nanoTime();
        if (lastTokenNanos == 0) metrics.firstToken(now - startNanos);
        else metrics.nextToken(now - lastTokenNanos);
        lastTokenNanos = now;
        String piece = text.next(token);
        fullText.append(piece);
        replyTo.tell(new GenerationEvent.Token(requestId, account.generatedCount() - 1, token, piece));
    }

    private Behavior<SessionCommand> onCommitted(SessionCommand.Committed c) {
        if (c.seq() != seq || finishing) return this;
        if (c.pos() != request.prompt().length + account.generatedCount()) return this; // a duplicate, or out of a stale attempt
        lastProgressNanos = System.nanoTime();
        if (lastProgressNanos > deadlineNanos) return deadlineExceeded();
        if (!account.commit(c.pos(), c.token())) startFinishing();
        return this;
    }

    private void startFinishing() {
        finishing = true;
        finishingSince = System.nanoTime();
        for (EntityRef<StageCommand> s : stages) s.tell(new StageCommand.Deliver(new PipelineMessage.Finish(seq), getContext().getSelf()));
    }

    private Behavior<SessionCommand> onReported(SessionCommand.Reported r) {
        if (r.seq() != seq || r.report() == null || r.report().stage() < 0 || r.report().stage() >= stages.length) return this;
        if (account.report(r.report()) && finishing) return complete();
        return this;
    }

    private Behavior<SessionCommand> onStageFailed(SessionCommand.StageFailed f) {
        if (f.seq() != seq || finishing) return this;
        lastFailure = "stage " + f.stage() + ": " + f.reason();
        getContext().getLog().warn("request {}: {}", requestId, lastFailure);
        if (f.code() != null) return fail(f.code(), lastFailure);
        return rebuildOrFail();
    }

    private Behavior<SessionCommand> onTick() {
        long now = System.nanoTime();
        if (finishing) {
            if (now - finishingSince > settings.reportWait().toNanos()) return complete();
            return this;
        }
        if (now > deadlineNanos) return deadlineExceeded();
        if (now - lastProgressNanos > settings.stallTimeout().toNanos()) {
            lastFailure = "no progress for " + settings.stallTimeout().toMillis() + " ms (a stage was lost, or is unallocated for want of a free device)";
            getContext().getLog().warn("request {}: {}", requestId, lastFailure);
            return rebuildOrFail();
        }
        return this;
    }

    private Behavior<SessionCommand> deadlineExceeded() {
        return fail(FailureCode.DEADLINE, "deadline of " + deadlineMillis + " ms exceeded after " + account.generatedCount() + " tokens"
                + (lastFailure != null ? " (last failure: " + lastFailure + ")" : ""));
    }

    private Behavior<SessionCommand> rebuildOrFail() {
        for (EntityRef<StageCommand> s : stages) s.tell(new StageCommand.Deliver(new PipelineMessage.Finish(seq), null));
        if (attempts > settings.maxRebuilds()) {
            return fail(FailureCode.UNAVAILABLE, "pipeline could not be rebuilt after " + attempts + " attempts: " + lastFailure);
        }
        beginAttempt();
        return this;
    }

    private Behavior<SessionCommand> fail(FailureCode code, String reason) {
        if (!finishing) {
            for (EntityRef<StageCommand> s : stages) s.tell(new StageCommand.Deliver(new PipelineMessage.Finish(seq), null));
        }
        metrics.failed(code.name().toLowerCase(java.util.Locale.ROOT));
        replyTo.tell(new GenerationEvent.Failed(requestId, code, reason));
        return Behaviors.stopped();
    }

    private Behavior<SessionCommand> complete() {
        GenerationResult result = account.result();
        fullText.append(text.flush());
        var sp = result.speculation();
        metrics.finished(result.stopReason().name().toLowerCase(java.util.Locale.ROOT), result.prompt().length, result.generated().length,
                sp.draftsVerified(), sp.draftsAccepted(), attempts - 1);
        replyTo.tell(new GenerationEvent.Completed(requestId, result.prompt(), result.generated(), fullText.toString(), result.stopReason(),
                result.timings(), result.speculation(), attempts - 1));
        return Behaviors.stopped();
    }
}
