package io.ppsd.actors.gateway;

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
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * The public entry point for other JVM services: registered with the Receptionist under
 * {@link #SERVICE_KEY}; validates each {@link GatewayCommand.Generate} (pipeline, prompt, token ids,
 * context, sampling) and answers bad input at once with {@link GenerationEvent.Failed}; good
 * requests get a {@link RequestSession} each.
 */
public final class Gateway extends AbstractBehavior<Gateway.Command> {
    public static final ServiceKey<GatewayCommand> SERVICE_KEY = ServiceKey.create(GatewayCommand.class, "ppsd-gateway");

    /** Public commands plus the gateway's own notifications. */
    public sealed interface Command {}

    record Public(GatewayCommand command) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    record SessionEnded(String requestId) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    private final PipelineRegistry pipelines;
    private final RequestSession.Settings settings;
    private final Map<String, ActorRef<SessionCommand>> running = new HashMap<>();
    private final Map<java.nio.file.Path, PromptEncoder> encoders = new ConcurrentHashMap<>();
    private long sessionCounter;

    public static Behavior<Command> create(PipelineRegistry pipelines, RequestSession.Settings settings) {
        return Behaviors.setup(ctx -> {
            ActorRef<GatewayCommand> publicRef = ctx.messageAdapter(GatewayCommand.class, Public::new);
            ctx.getSystem().receptionist().tell(Receptionist.register(SERVICE_KEY, publicRef));
            return new Gateway(ctx, pipelines, settings);
        });
    }

    private Gateway(ActorContext<Command> ctx, PipelineRegistry pipelines, RequestSession.Settings settings) {
        super(ctx);
        this.pipelines = pipelines;
        this.settings = settings;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Public.class, p -> switch (p.command()) {
                    case GatewayCommand.Generate g -> onGenerate(g);
                    case GatewayCommand.Cancel c -> onCancel(c);
                })
                .onMessage(SessionEnded.class, e -> {
                    running.remove(e.requestId());
                    return this;
                })
                .build();
    }

    private Behavior<Command> onGenerate(GatewayCommand.Generate g) {
        if (g.replyTo() == null) {
            getContext().getLog().warn("Generate without replyTo dropped");
            return this;
        }
        String id = g.requestId() == null ? "" : g.requestId();
        try {
            if (id.isEmpty()) throw new IllegalArgumentException("requestId is required");
            if (running.containsKey(id)) throw new IllegalArgumentException("request '" + id + "' is already running");
            if (g.params() == null) throw new IllegalArgumentException("params are required");
            if (g.params().maxTokens() < 0) throw new IllegalArgumentException("maxTokens must be ≥ 0");
            if (g.params().deadlineMillis() <= 0) throw new IllegalArgumentException("deadlineMillis must be > 0");
            if ((g.text() == null) == (g.tokenIds() == null)) throw new IllegalArgumentException("give exactly one of text and tokenIds");
            PipelineDefinition pipeline = pipelines.get(g.params().pipeline());
            PromptEncoder encoder = encoder(pipeline);
            var config = pipeline.config();
            int[] prompt = g.text() != null ? encoder.encode(g.text()) : g.tokenIds().clone();
            if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
            var request = new GenerationRequest(prompt, g.params().maxTokens(), g.params().sampling(), stopTokens(g.params(), encoder, config.vocabSize()),
                    g.params().stopStrings(), () -> encoder.tokenizer().newTextStream()::next);
            request.validate(config.vocabSize(), config.maxPositions());
            var session = getContext().spawn(RequestSession.create(id, request, g.params().deadlineMillis(), pipeline, encoder.tokenizer(), settings,
                    g.replyTo()), "session-" + (++sessionCounter));
            getContext().watchWith(session, new SessionEnded(id));
            running.put(id, session);
        } catch (RuntimeException e) {
            g.replyTo().tell(new GenerationEvent.Failed(id, e.getMessage()));
        }
        return this;
    }

    private Behavior<Command> onCancel(GatewayCommand.Cancel c) {
        ActorRef<SessionCommand> s = running.get(c.requestId());
        if (s != null) s.tell(new SessionCommand.Cancel());
        return this;
    }

    /** The model's end-of-sequence ids unless the request ignores them, plus the request's own stop ids. */
    private static int[] stopTokens(GenerateParams params, PromptEncoder encoder, int vocabSize) {
        int[] own = params.stopTokenIds() == null ? new int[0] : params.stopTokenIds();
        for (int t : own) {
            if (t < 0 || t >= vocabSize) throw new IllegalArgumentException("stop token id " + t + " outside the vocabulary [0, " + vocabSize + ")");
        }
        int[] eos = params.ignoreEos() ? new int[0] : encoder.stopTokenIds();
        return java.util.stream.IntStream.concat(java.util.Arrays.stream(eos), java.util.Arrays.stream(own)).distinct().toArray();
    }

    private PromptEncoder encoder(PipelineDefinition p) {
        return encoders.computeIfAbsent(p.modelDir(), dir -> {
            try {
                return PromptEncoder.of(Tokenizer.load(dir.resolve("tokenizer.json")), p.config());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the tokenizer of " + dir + ": " + e.getMessage(), e);
            }
        });
    }
}
