package io.ppsd.actors.session;

import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.protocol.GenerationStats;
import io.ppsd.actors.stage.PipelineDefinition;
import io.ppsd.actors.stage.StageCommand;
import io.ppsd.actors.stage.StageEntity;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.OutputTracker;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.tokenizer.TokenTextStream;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
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
 * One request: holds the prompt and the committed tokens, streams each token to the requester,
 * applies stop conditions, the deadline and cancellation, and releases the sequence on every
 * stage when done.
 *
 * <p>KV caches die with their node; committed tokens do not. When the pipeline makes no progress
 * for {@code stallTimeout} (a stage was lost and restarted elsewhere, empty) or a stage reports a
 * failure, the session rebuilds: it starts a new attempt (a new sequence id, so late messages of
 * the old one are ignored everywhere) whose prompt is the original prompt plus the tokens committed
 * so far. Under greedy decoding the client sees exactly the tokens it would have seen without the
 * failure. After {@code maxRebuilds} attempts, or past the deadline, the request fails clearly.
 */
public final class Session extends AbstractBehavior<SessionCommand> {

    /** Session settings from {@code ppsd.session}. */
    public record Settings(Duration stallTimeout, int maxRebuilds, Duration reportWait) {
        public static Settings fromConfig(com.typesafe.config.Config c) {
            return new Settings(c.getDuration("ppsd.session.stall-timeout"), c.getInt("ppsd.session.max-rebuilds"),
                    c.getDuration("ppsd.session.report-wait"));
        }
    }

    private final String requestId;
    private final int[] prompt;
    private final GenerateParams params;
    private final PipelineDefinition pipeline;
    private final Settings settings;
    private final ActorRef<GenerationEvent> replyTo;
    private final int[] stopTokens;
    private final OutputTracker tracker;
    private final TokenTextStream text;
    private final StringBuilder fullText = new StringBuilder();
    private final EntityRef<StageCommand>[] stages;
    private final long startNanos = System.nanoTime();
    private final long deadlineNanos;
    private final Map<Integer, SessionCommand.Reported> reports = new HashMap<>();

    private long seq;
    private int attempts;
    private long lastProgressNanos;
    private long firstTokenNanos;
    private long endNanos;
    private String lastFailure;
    private boolean finishing;
    private long finishingSince;

    public static Behavior<SessionCommand> create(String requestId, int[] prompt, GenerateParams params, PipelineDefinition pipeline,
                                                  Tokenizer tokenizer, int[] stopTokens, Settings settings, ActorRef<GenerationEvent> replyTo) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new Session(ctx, timers, requestId, prompt, params, pipeline, tokenizer, stopTokens, settings, replyTo)));
    }

    @SuppressWarnings("unchecked")
    private Session(ActorContext<SessionCommand> ctx, TimerScheduler<SessionCommand> timers, String requestId, int[] prompt,
                    GenerateParams params, PipelineDefinition pipeline, Tokenizer tokenizer, int[] stopTokens, Settings settings,
                    ActorRef<GenerationEvent> replyTo) {
        super(ctx);
        this.requestId = requestId;
        this.prompt = prompt;
        this.params = params;
        this.pipeline = pipeline;
        this.settings = settings;
        this.replyTo = replyTo;
        this.stopTokens = stopTokens.clone();
        this.text = tokenizer.newTextStream();
        var sampling = sampling(params);
        var request = new GenerationRequest(prompt, params.maxTokens(), sampling, stopTokens,
                params.stopStrings() == null ? java.util.List.of() : params.stopStrings(), () -> tokenizer.newTextStream()::next);
        this.tracker = new OutputTracker(request, this::emit, pipeline.config().maxPositions());
        this.deadlineNanos = startNanos + Duration.ofMillis(Math.max(1, params.deadlineMillis())).toNanos();
        var sharding = ClusterSharding.get(ctx.getSystem());
        this.stages = new EntityRef[pipeline.stageCount()];
        for (int k = 0; k < stages.length; k++) stages[k] = sharding.entityRefFor(StageEntity.TYPE_KEY, pipeline.entityId(k));
        timers.startTimerWithFixedDelay(new SessionCommand.Tick(), Duration.ofMillis(200));
        if (tracker.stopped()) {
            finishing = true;
            finishingSince = System.nanoTime();
        } else {
            beginAttempt();
        }
    }

    public static SamplingParams sampling(GenerateParams p) {
        return new SamplingParams(p.temperature(), p.topK(), p.topP(), p.repetitionPenalty(), p.seed());
    }

    private void beginAttempt() {
        attempts++;
        seq = ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE;
        reports.clear();
        int done = tracker.generatedCount();
        int[] tokens = java.util.Arrays.copyOf(prompt, prompt.length + done);
        System.arraycopy(tracker.generated(), 0, tokens, prompt.length, done);
        int maxLength = Math.min(pipeline.config().maxPositions(), prompt.length + params.maxTokens());
        // Under sampling a rebuilt attempt draws from a fresh stream: the distribution is unchanged.
        SamplingParams s = sampling(params);
        if (attempts > 1) s = new SamplingParams(s.temperature(), s.topK(), s.topP(), s.repetitionPenalty(), s.seed() + attempts);
        var seqParams = new PipelineMessage.SequenceParams(tokens, maxLength, s, stopTokens, pipeline.window());
        lastProgressNanos = System.nanoTime();
        if (attempts > 1) getContext().getLog().info("request {}: rebuilding the pipeline state (attempt {}), re-prefilling {} tokens", requestId, attempts, tokens.length);
        stages[0].tell(new StageCommand.Deliver(new PipelineMessage.Begin(seq, seqParams), getContext().getSelf()));
    }

    @Override
    public Receive<SessionCommand> createReceive() {
        return newReceiveBuilder()
                .onMessage(SessionCommand.Committed.class, this::onCommitted)
                .onMessage(SessionCommand.Reported.class, this::onReported)
                .onMessage(SessionCommand.Stopped.class, s -> this)
                .onMessage(SessionCommand.StageFailed.class, this::onStageFailed)
                .onMessage(SessionCommand.Cancel.class, c -> fail("cancelled"))
                .onMessage(SessionCommand.Tick.class, t -> onTick())
                .build();
    }

    private void emit(int token) {
        if (firstTokenNanos == 0) firstTokenNanos = System.nanoTime();
        String piece = text.next(token);
        fullText.append(piece);
        replyTo.tell(new GenerationEvent.Token(requestId, tracker.generatedCount() - 1, token, piece));
    }

    private Behavior<SessionCommand> onCommitted(SessionCommand.Committed c) {
        if (c.seq() != seq || finishing) return this;
        int expected = prompt.length + tracker.generatedCount();
        if (c.pos() != expected) return this; // a duplicate from the transport, or out of a stale attempt
        lastProgressNanos = System.nanoTime();
        if (lastProgressNanos > deadlineNanos) return deadlineExceeded();
        if (!tracker.commit(c.token())) startFinishing();
        return this;
    }

    private void startFinishing() {
        finishing = true;
        finishingSince = System.nanoTime();
        endNanos = System.nanoTime();
        for (EntityRef<StageCommand> s : stages) s.tell(new StageCommand.Deliver(new PipelineMessage.Finish(seq), getContext().getSelf()));
    }

    private Behavior<SessionCommand> onReported(SessionCommand.Reported r) {
        if (r.seq() != seq) return this;
        reports.put(r.stage(), r);
        if (finishing && reports.size() == stages.length) return complete();
        return this;
    }

    private Behavior<SessionCommand> onStageFailed(SessionCommand.StageFailed f) {
        if (f.seq() != seq || finishing) return this;
        lastFailure = "stage " + f.stage() + ": " + f.reason();
        getContext().getLog().warn("request {}: {}", requestId, lastFailure);
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
        return fail("deadline of " + params.deadlineMillis() + " ms exceeded after " + tracker.generatedCount() + " tokens"
                + (lastFailure != null ? " (last failure: " + lastFailure + ")" : ""));
    }

    private Behavior<SessionCommand> rebuildOrFail() {
        for (EntityRef<StageCommand> s : stages) s.tell(new StageCommand.Deliver(new PipelineMessage.Finish(seq), null));
        if (attempts > settings.maxRebuilds()) {
            return fail("pipeline could not be rebuilt after " + attempts + " attempts: " + lastFailure);
        }
        beginAttempt();
        return this;
    }

    private Behavior<SessionCommand> fail(String reason) {
        if (!finishing) {
            for (EntityRef<StageCommand> s : stages) s.tell(new StageCommand.Deliver(new PipelineMessage.Finish(seq), null));
        }
        replyTo.tell(new GenerationEvent.Failed(requestId, reason));
        return Behaviors.stopped();
    }

    private Behavior<SessionCommand> complete() {
        long verified = 0, accepted = 0, wasted = 0;
        for (var r : reports.values()) {
            verified += r.draftsVerified();
            accepted += r.draftsAccepted();
            wasted += r.wastedPositions();
        }
        int n = tracker.generatedCount();
        long end = endNanos == 0 ? System.nanoTime() : endNanos;
        long steps = verified + (long) (stages.length - 1) * (verified - accepted);
        double promptMs = firstTokenNanos == 0 ? 0 : (firstTokenNanos - startNanos) / 1e6;
        double tps = n > 1 && firstTokenNanos > 0 ? (n - 1) * 1e9 / (end - firstTokenNanos) : 0;
        var stats = new GenerationStats(prompt.length, n, verified == 0 ? Double.NaN : (double) accepted / verified,
                steps == 0 ? Double.NaN : (double) n / steps, verified, accepted, wasted, promptMs, tps, attempts - 1);
        fullText.append(text.flush());
        String reason = tracker.stopReason() == null ? "max_tokens" : tracker.stopReason().name().toLowerCase();
        replyTo.tell(new GenerationEvent.Completed(requestId, tracker.generated(), fullText.toString(), reason, stats));
        return Behaviors.stopped();
    }
}
