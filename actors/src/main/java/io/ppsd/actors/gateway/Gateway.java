package io.ppsd.actors.gateway;

import io.ppsd.actors.protocol.GatewayCommand;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.actors.session.Session;
import io.ppsd.actors.session.SessionCommand;
import io.ppsd.actors.stage.PipelineDefinition;
import io.ppsd.actors.stage.PipelineRegistry;
import io.ppsd.runtime.LocalDecoding;
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
 * requests get a {@link Session} each.
 */
public final class Gateway extends AbstractBehavior<Gateway.Command> {
    public static final ServiceKey<GatewayCommand> SERVICE_KEY = ServiceKey.create(GatewayCommand.class, "ppsd-gateway");

    /** Public commands plus the gateway's own notifications. */
    public sealed interface Command {}

    record Public(GatewayCommand command) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    record SessionEnded(String requestId) implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    private final PipelineRegistry pipelines;
    private final Session.Settings settings;
    private final Map<String, ActorRef<SessionCommand>> running = new HashMap<>();
    private final Map<java.nio.file.Path, Tokenizer> tokenizers = new ConcurrentHashMap<>();
    private long sessionCounter;

    public static Behavior<Command> create(PipelineRegistry pipelines, Session.Settings settings) {
        return Behaviors.setup(ctx -> {
            ActorRef<GatewayCommand> publicRef = ctx.messageAdapter(GatewayCommand.class, Public::new);
            ctx.getSystem().receptionist().tell(Receptionist.register(SERVICE_KEY, publicRef));
            return new Gateway(ctx, pipelines, settings);
        });
    }

    private Gateway(ActorContext<Command> ctx, PipelineRegistry pipelines, Session.Settings settings) {
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
            Tokenizer tokenizer = tokenizer(pipeline);
            var config = pipeline.config();
            int[] prompt = g.text() != null ? LocalDecoding.promptIds(tokenizer, config, g.text()) : g.tokenIds().clone();
            if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
            for (int t : prompt) {
                if (t < 0 || t >= config.vocabSize()) throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + config.vocabSize() + ")");
            }
            if (prompt.length >= config.maxPositions()) {
                throw new IllegalArgumentException("prompt of " + prompt.length + " tokens does not fit the context of " + config.maxPositions() + " positions");
            }
            Session.sampling(g.params()); // validates the sampling parameters
            var session = getContext().spawn(Session.create(id, prompt, g.params(), pipeline, tokenizer,
                    g.params().ignoreEos() ? new int[0] : LocalDecoding.stopTokens(tokenizer, config), settings, g.replyTo()), "session-" + (++sessionCounter));
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

    private Tokenizer tokenizer(PipelineDefinition p) {
        return tokenizers.computeIfAbsent(p.modelDir(), dir -> {
            try {
                return Tokenizer.load(dir.resolve("tokenizer.json"));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the tokenizer of " + dir + ": " + e.getMessage(), e);
            }
        });
    }
}
