package io.ppsd.actors.client;

import io.ppsd.actors.gateway.Gateway;
import io.ppsd.actors.protocol.FailureCode;
import io.ppsd.actors.protocol.GatewayCommand;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.SubmissionPublisher;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * The Java client for other JVM services. Give it the actor system of a node that is a member of
 * the ppsd cluster (it may host nothing itself); it finds a gateway through the Receptionist.
 * <pre>{@code
 *   var client = new PpsdClient(system);
 *   client.generate("Once upon a time", GenerateParams.greedy(64))
 *         .thenAccept(done -> System.out.println(done.text()));
 * }</pre>
 */
public final class PpsdClient {
    /** Thrown into the returned stage when the generation fails; the message says why. */
    public static final class GenerationFailedException extends RuntimeException {
        private final FailureCode code;
        private final String reason;

        public GenerationFailedException(String requestId, FailureCode code, String reason) {
            super("request " + requestId + " failed: " + reason);
            this.code = code == null ? FailureCode.INTERNAL : code;
            this.reason = reason;
        }

        public FailureCode code() {
            return code;
        }

        /** The reason without the request id. */
        public String reason() {
            return reason;
        }
    }

    /** How long past the request's own deadline the client waits before giving up on the gateway. */
    private static final Duration DEADLINE_GRACE = Duration.ofSeconds(10);

    private final ActorSystem<?> system;
    private final Duration gatewayWait;

    public PpsdClient(ActorSystem<?> system) {
        this(system, Duration.ofSeconds(30));
    }

    public PpsdClient(ActorSystem<?> system, Duration gatewayWait) {
        this.system = system;
        this.gatewayWait = gatewayWait;
    }

    /** Generates and completes with the whole result (or fails with {@link GenerationFailedException}). */
    public CompletionStage<GenerationEvent.Completed> generate(String text, GenerateParams params) {
        return run(text, null, params, e -> {});
    }

    public CompletionStage<GenerationEvent.Completed> generate(int[] tokenIds, GenerateParams params) {
        return run(null, tokenIds, params, e -> {});
    }

    /** Streams every event: tokens as they are committed, then completion or failure (as onError). */
    public Flow.Publisher<GenerationEvent> stream(String text, GenerateParams params) {
        var publisher = new SubmissionPublisher<GenerationEvent>();
        run(text, null, params, publisher::submit).whenComplete((done, failure) -> {
            if (failure != null) publisher.closeExceptionally(failure);
            else publisher.close();
        });
        return publisher;
    }

    /** A running request: its id, its outcome, and a way to cancel it. */
    public record Request(String requestId, CompletionStage<GenerationEvent.Completed> result, ActorRef<Object> driver) {
        /** Asks the gateway to stop the request; it then fails with "cancelled". */
        public void cancel() {
            driver.tell(CANCEL);
        }
    }

    private static final String CANCEL = "cancel";

    /**
     * Starts a request; {@code onEvent} sees each event (on an actor thread, keep it short).
     * Returns the request id's completion.
     */
    public CompletionStage<GenerationEvent.Completed> run(String text, int[] tokenIds, GenerateParams params, Consumer<GenerationEvent> onEvent) {
        return start(text, tokenIds, params, onEvent).result();
    }

    public Request start(String text, int[] tokenIds, GenerateParams params, Consumer<GenerationEvent> onEvent) {
        String requestId = UUID.randomUUID().toString();
        var result = new CompletableFuture<GenerationEvent.Completed>();
        ActorRef<Object> driver = system.systemActorOf(request(requestId, text, tokenIds, params, onEvent, result), "ppsd-client-" + requestId, Props.empty());
        return new Request(requestId, result, driver);
    }

    private Behavior<Object> request(String requestId, String text, int[] tokenIds, GenerateParams params,
                                     Consumer<GenerationEvent> onEvent, CompletableFuture<GenerationEvent.Completed> result) {
        return Behaviors.<Object>setup(ctx -> {
            ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class, l -> l);
            ActorRef<GenerationEvent> events = ctx.messageAdapter(GenerationEvent.class, e -> e);
            ctx.getSystem().receptionist().tell(Receptionist.subscribe(Gateway.SERVICE_KEY, listings));
            boolean[] sent = {false};
            boolean[] cancelPending = {false};
            @SuppressWarnings("unchecked")
            ActorRef<GatewayCommand>[] gatewayUsed = new ActorRef[1];
            return Behaviors.withTimers(timers -> {
                timers.startSingleTimer("no-gateway", "no-gateway", gatewayWait);
                // The gateway enforces the deadline; this bounds the wait when the gateway cannot.
                long deadline = params == null ? GenerateParams.DEFAULT_DEADLINE_MILLIS : Math.max(1, params.deadlineMillis());
                timers.startSingleTimer("deadline", "deadline", Duration.ofMillis(deadline).plus(DEADLINE_GRACE));
                return Behaviors.receive(Object.class)
                        .onMessage(Receptionist.Listing.class, listing -> {
                            var gateways = listing.getServiceInstances(Gateway.SERVICE_KEY);
                            if (gateways.isEmpty() || sent[0]) return Behaviors.same();
                            timers.cancel("no-gateway");
                            sent[0] = true;
                            ActorRef<GatewayCommand> gateway = gateways.iterator().next();
                            gatewayUsed[0] = gateway;
                            // A gateway that dies (its node lost) fails the request instead of leaving it open forever.
                            ctx.watch(gateway);
                            gateway.tell(new GatewayCommand.Generate(requestId, text, tokenIds, params, events));
                            // A cancel that came before the gateway was found follows the request.
                            if (cancelPending[0]) gateway.tell(new GatewayCommand.Cancel(requestId));
                            return Behaviors.same();
                        })
                        .onMessageEquals(CANCEL, () -> {
                            if (gatewayUsed[0] != null) gatewayUsed[0].tell(new GatewayCommand.Cancel(requestId));
                            else cancelPending[0] = true;
                            return Behaviors.same();
                        })
                        .onMessageEquals("no-gateway", () -> {
                            result.completeExceptionally(new GenerationFailedException(requestId, FailureCode.UNAVAILABLE,
                                    "no ppsd gateway found within " + gatewayWait));
                            return Behaviors.stopped();
                        })
                        .onMessageEquals("deadline", () -> {
                            if (gatewayUsed[0] != null) gatewayUsed[0].tell(new GatewayCommand.Cancel(requestId));
                            result.completeExceptionally(new GenerationFailedException(requestId, FailureCode.DEADLINE,
                                    "no answer from the gateway within the deadline of " + deadline + " ms"));
                            return Behaviors.stopped();
                        })
                        .onMessage(GenerationEvent.class, e -> {
                            onEvent.accept(e);
                            if (e instanceof GenerationEvent.Completed c) {
                                result.complete(c);
                                return Behaviors.stopped();
                            }
                            if (e instanceof GenerationEvent.Failed f) {
                                result.completeExceptionally(new GenerationFailedException(requestId, f.code(), f.reason()));
                                return Behaviors.stopped();
                            }
                            return Behaviors.same();
                        })
                        .onSignal(org.apache.pekko.actor.typed.Terminated.class, t -> {
                            result.completeExceptionally(new GenerationFailedException(requestId, FailureCode.UNAVAILABLE,
                                    "the gateway stopped before the request completed"));
                            return Behaviors.stopped();
                        })
                        .build();
            });
        });
    }
}
