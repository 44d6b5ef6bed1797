package io.ppsd.actors.protocol;

import org.apache.pekko.actor.typed.ActorRef;

/**
 * The public actor-message API: what other JVM services send to the gateway (found with the
 * Receptionist under {@code io.ppsd.actors.gateway.Gateway.SERVICE_KEY}).
 */
public sealed interface GatewayCommand extends CborSerializable {

    /**
     * Generate text for a prompt given as {@code text} or as {@code tokenIds} (exactly one of them;
     * text is tokenized with the model's tokenizer, BOS added). Answered on {@code replyTo} by
     * {@link GenerationEvent.Token} events, then one {@link GenerationEvent.Completed} or
     * {@link GenerationEvent.Failed}. {@code requestId} is the caller's, unique among its requests.
     */
    record Generate(String requestId, String text, int[] tokenIds, GenerateParams params,
                    ActorRef<GenerationEvent> replyTo) implements GatewayCommand {}

    /** Stop a running request; it ends with {@link GenerationEvent.Failed} ("cancelled"). */
    record Cancel(String requestId) implements GatewayCommand {}
}
