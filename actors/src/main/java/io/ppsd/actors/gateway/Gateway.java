package io.ppsd.actors.gateway;

import com.typesafe.config.Config;
import io.ppsd.actors.metrics.ServingMetrics;
import io.ppsd.actors.protocol.FailureCode;
import io.ppsd.actors.protocol.GatewayCommand;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.session.RequestSession;
import io.ppsd.actors.session.SessionCommand;
import io.ppsd.actors.stage.PipelineDefinition;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.tokenizer.PromptEncoder;
import io.ppsd.runtime.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * The public entry point for other JVM services and the HTTP front end: registered with the
 * Receptionist under {@link #SERVICE_KEY}; validates each {@link GatewayCommand.Generate}
 * (pipeline, prompt, token ids, context, sampling) and answers bad input at once with a coded
 * {@link GenerationEvent.Failed}.
 *
 * <p>Admission: per pipeline at most {@code max-running} sessions generate at once and at most
 * {@code max-waiting} more wait in arrival order (first come, first served); beyond that a
 * request is refused with {@link FailureCode#OVERLOADED} rather than queued without bound.
 * Prompt text is tokenized on the blocking dispatcher, never on this actor's thread, so a long
 * prompt does not delay other requests.
 */
public final class Gateway extends AbstractBehavior<Gateway.Command> {
    public static final ServiceKey<GatewayCommand> SERVICE_KEY = ServiceKey.create(GatewayCommand.class, "ppsd-gateway");

    /** Admission limits from {@code ppsd.gateway}. */
    public record Limits(int maxRunning, int maxWaiting, int maxPromptTokens) {
        public Limits {
            if (maxRunning < 1 || maxWaiting < 0 || maxPromptTokens < 1) {
                throw new IllegalArgumentException("ppsd.gateway: max-running ≥ 1, max-waiting ≥ 0, max-prompt-tokens ≥ 1");
            }
        }

        public static Limits fromConfig(Config c) {
            return new Limits(c.getInt("ppsd.gateway.max-running"), c.getInt("ppsd.gateway.max-waiting"), c.getInt("ppsd.gateway.max-prompt-tokens"));
        }
    }

    /** Public commands plus the gateway's own notifications. */
    public sealed interface Command {}

    record Public(GatewayCommand command) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    record SessionEnded(String requestId, String pipeline) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    /** A request whose prompt was tokenized off this actor's thread (or failed to be). */
    record Prepared(GatewayCommand.Generate command, PipelineDefinition pipeline, GenerationRequest request, PromptEncoder encoder,
                    RuntimeException error) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    private record Waiting(Prepared prepared, long arrivedNanos) {}

    private final PipelineRegistry pipelines;
    private final RequestSession.Settings settings;
    private final Limits limits;
    private final ServingMetrics metrics;
    private final Executor tokenizing;
    private final Map<String, ActorRef<SessionCommand>> running = new HashMap<>();
    private final Set<String> known = new HashSet<>();
    /** Requests whose prompt is being tokenized: a cancel then answers them at once. */
    private final Map<String, GatewayCommand.Generate> preparing = new HashMap<>();
    private final Map<String, Integer> runningPerPipeline = new HashMap<>();
    private final Map<String, ArrayDeque<Waiting>> waiting = new HashMap<>();
    private final Map<java.nio.file.Path, PromptEncoder> encoders = new ConcurrentHashMap<>();
    private long sessionCounter;

    public static Behavior<Command> create(PipelineRegistry pipelines, RequestSession.Settings settings, Limits limits) {
        return Behaviors.setup(ctx -> {
            ActorRef<GatewayCommand> publicRef = ctx.messageAdapter(GatewayCommand.class, Public::new);
            ctx.getSystem().receptionist().tell(Receptionist.register(SERVICE_KEY, publicRef));
            return new Gateway(ctx, pipelines, settings, limits);
        });
    }

    private Gateway(ActorContext<Command> ctx, PipelineRegistry pipelines, RequestSession.Settings settings, Limits limits) {
        super(ctx);
        this.pipelines = pipelines;
        this.settings = settings;
        this.limits = limits;
        this.metrics = ServingMetrics.get(ctx.getSystem());
        this.tokenizing = ctx.getSystem().dispatchers().lookup(DispatcherSelector.blocking());
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Public.class, p -> switch (p.command()) {
                    case GatewayCommand.Generate g -> onGenerate(g);
                    case GatewayCommand.Cancel c -> onCancel(c);
                })
                .onMessage(Prepared.class, this::onPrepared)
                .onMessage(SessionEnded.class, this::onSessionEnded)
                .build();
    }

    private Behavior<Command> onGenerate(GatewayCommand.Generate g) {
        if (g.replyTo() == null) {
            getContext().getLog().warn("Generate without replyTo dropped");
            return this;
        }
        String id = g.requestId() == null ? "" : g.requestId();
        PipelineDefinition pipeline;
        PromptEncoder encoder;
        try {
            if (id.isEmpty()) throw new IllegalArgumentException("requestId is required");
            if (known.contains(id)) throw new IllegalArgumentException("request '" + id + "' is already running");
            if (g.params() == null) throw new IllegalArgumentException("params are required");
            if (g.params().maxTokens() < 0) throw new IllegalArgumentException("maxTokens must be ≥ 0");
            if (g.params().deadlineMillis() <= 0) throw new IllegalArgumentException("deadlineMillis must be > 0");
            if ((g.text() == null) == (g.tokenIds() == null)) throw new IllegalArgumentException("give exactly one of text and tokenIds");
            g.params().sampling(); // validates the sampling parameters
            pipeline = pipelines.get(g.params().pipeline());
            encoder = encoder(pipeline);
        } catch (RuntimeException e) {
            return refuse(g, id, FailureCode.BAD_REQUEST, e.getMessage());
        }
        known.add(id);
        preparing.put(id, g);
        var self = getContext().getSelf();
        // Tokenizing a long prompt takes milliseconds: not on this actor's thread.
        CompletableFuture.supplyAsync(() -> prepare(g, pipeline, encoder), tokenizing)
                .whenComplete((prepared, error) -> self.tell(prepared != null ? prepared
                        : new Prepared(g, pipeline, null, encoder, error instanceof RuntimeException r ? r : new IllegalStateException(error))));
        return this;
    }

    private Prepared prepare(GatewayCommand.Generate g, PipelineDefinition pipeline, PromptEncoder encoder) {
        try {
            var config = pipeline.config();
            if (g.text() != null && g.text().length() > 16L * limits.maxPromptTokens()) {
                throw new IllegalArgumentException("prompt text of " + g.text().length() + " characters exceeds the limit of "
                        + limits.maxPromptTokens() + " tokens");
            }
            int[] prompt = g.text() != null ? encoder.encode(g.text()) : g.tokenIds().clone();
            if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
            if (prompt.length > limits.maxPromptTokens()) {
                throw new IllegalArgumentException("prompt of " + prompt.length + " tokens exceeds the limit of " + limits.maxPromptTokens() + " tokens");
            }
            var request = new GenerationRequest(prompt, g.params().maxTokens(), g.params().sampling(), stopTokens(g.params(), encoder, config.vocabSize()),
                    g.params().stopStrings(), () -> encoder.tokenizer().newTextStream()::next);
            request.validate(config.vocabSize(), pipeline.contextLength());
            return new Prepared(g, pipeline, request, encoder, null);
        } catch (RuntimeException e) {
            return new Prepared(g, pipeline, null, encoder, e);
        }
    }

    private Behavior<Command> onPrepared(Prepared p) {
        String id = p.command().requestId();
        if (preparing.remove(id) == null) return this; // cancelled (and answered) while it was tokenized
        if (p.error() != null) {
            known.remove(id);
            return refuse(p.command(), id, FailureCode.BAD_REQUEST, p.error().getMessage());
        }
        String name = p.pipeline().name();
        if (runningPerPipeline.getOrDefault(name, 0) < limits.maxRunning()) {
            start(p);
            return this;
        }
        ArrayDeque<Waiting> queue = waiting.computeIfAbsent(name, k -> new ArrayDeque<>());
        if (queue.size() >= limits.maxWaiting()) {
            known.remove(id);
            return refuse(p.command(), id, FailureCode.OVERLOADED, "pipeline '" + name + "' is full (" + limits.maxRunning() + " running, "
                    + queue.size() + " waiting); retry later");
        }
        queue.add(new Waiting(p, System.nanoTime()));
        metrics.waiting().incrementAndGet();
        return this;
    }

    private void start(Prepared p) {
        var g = p.command();
        String name = p.pipeline().name();
        var session = getContext().spawn(RequestSession.create(g.requestId(), p.request(), g.params().deadlineMillis(), p.pipeline(),
                p.encoder().tokenizer(), settings, g.replyTo()), "session-" + (++sessionCounter));
        getContext().watchWith(session, new SessionEnded(g.requestId(), name));
        running.put(g.requestId(), session);
        runningPerPipeline.merge(name, 1, Integer::sum);
        metrics.running().incrementAndGet();
    }

    private Behavior<Command> onSessionEnded(SessionEnded e) {
        running.remove(e.requestId());
        known.remove(e.requestId());
        runningPerPipeline.merge(e.pipeline(), -1, Integer::sum);
        metrics.running().decrementAndGet();
        ArrayDeque<Waiting> queue = waiting.get(e.pipeline());
        while (queue != null && !queue.isEmpty() && runningPerPipeline.getOrDefault(e.pipeline(), 0) < limits.maxRunning()) {
            Waiting w = queue.poll();
            metrics.waiting().decrementAndGet();
            long waited = (System.nanoTime() - w.arrivedNanos()) / 1_000_000;
            var g = w.prepared().command();
            if (waited >= g.params().deadlineMillis()) {
                known.remove(g.requestId());
                refuse(g, g.requestId(), FailureCode.DEADLINE, "deadline of " + g.params().deadlineMillis() + " ms passed while waiting for room");
            } else {
                start(w.prepared());
            }
        }
        return this;
    }

    private Behavior<Command> onCancel(GatewayCommand.Cancel c) {
        ActorRef<SessionCommand> s = running.get(c.requestId());
        if (s != null) {
            s.tell(new SessionCommand.Cancel());
            return this;
        }
        for (ArrayDeque<Waiting> queue : waiting.values()) {
            for (var it = queue.iterator(); it.hasNext(); ) {
                Waiting w = it.next();
                if (w.prepared().command().requestId().equals(c.requestId())) {
                    it.remove();
                    metrics.waiting().decrementAndGet();
                    known.remove(c.requestId());
                    refuse(w.prepared().command(), c.requestId(), FailureCode.CANCELLED, "cancelled");
                    return this;
                }
            }
        }
        GatewayCommand.Generate g = preparing.remove(c.requestId());
        if (g != null) {
            // Cancelled while its prompt was tokenized: answered now, its Prepared is dropped when it comes.
            known.remove(c.requestId());
            refuse(g, c.requestId(), FailureCode.CANCELLED, "cancelled");
        }
        return this;
    }

    private Behavior<Command> refuse(GatewayCommand.Generate g, String id, FailureCode code, String reason) {
        metrics.failed(code.name().toLowerCase(java.util.Locale.ROOT));
        g.replyTo().tell(new GenerationEvent.Failed(id, code, reason));
        return this;
    }

    /** The model's end-of-sequence ids unless the request ignores them, plus the request's own stop ids. */
    private static int[] stopTokens(GenerateParams params, PromptEncoder encoder, int vocabSize) {
        int[] own = params.stopTokenIds() == null ? new int[0] : params.stopTokenIds();
        for (int t : own) {
            if (t < 0 || t >= vocabSize) throw new IllegalArgumentException("stop token id " + t + " outside the vocabulary [0, " + vocabSize + ")");
        }
        int[] eos = params.ignoreEos() ? new int[0] : encoder.stopTokenIds();
        return IntStream.concat(Arrays.stream(eos), Arrays.stream(own)).distinct().toArray();
    }

    private PromptEncoder encoder(PipelineDefinition p) {
        return encoders.computeIfAbsent(p.modelDir(), dir -> {
            try {
                return PromptEncoder.of(Tokenizer.load(dir.resolve("tokenizer.json")), p.config(), dir);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the tokenizer of " + dir + ": " + e.getMessage(), e);
            }
        });
    }
}
