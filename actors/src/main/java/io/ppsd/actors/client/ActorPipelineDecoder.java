package io.ppsd.actors.client;

import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The actor pipeline behind the runtime's {@link Decoder} contract: each request goes to a gateway
 * through {@link PpsdClient}, as token ids with exactly the request's stop tokens (the model's own
 * EOS rule is not added: the request already says what ends it), and the reply becomes the same
 * {@link GenerationResult} every other decoder returns. Several threads may generate at once.
 */
public final class ActorPipelineDecoder implements Decoder {
    private final PpsdClient client;
    private final String pipeline;
    private final String description;
    private final Duration timeout;
    private final Runnable onClose;

    /**
     * @param system      an actor system that is a member of the cluster (it may host nothing)
     * @param pipeline    the configured pipeline to run on (null = the cluster's default)
     * @param description what the pipeline runs, for {@link #describe()}
     * @param timeout     the deadline of each request
     * @param onClose     stops what the caller started for this decoder (its node, say), on {@link #close()}
     */
    public ActorPipelineDecoder(ActorSystem<?> system, String pipeline, String description, Duration timeout, Runnable onClose) {
        this.client = new PpsdClient(system);
        this.pipeline = pipeline;
        this.description = description;
        this.timeout = timeout;
        this.onClose = onClose;
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        var params = GenerateParams.builder(request.maxNewTokens()).sampling(request.sampling()).stopStrings(request.stopStrings())
                .stopTokenIds(request.stopTokens()).ignoreEos(true).pipeline(pipeline).deadlineMillis(timeout.toMillis()).build();
        GenerationEvent.Completed done;
        try {
            done = client.run(null, request.prompt(), params, e -> {
                if (e instanceof GenerationEvent.Token t) listener.onToken(t.tokenId());
            }).toCompletableFuture().get(timeout.toMillis() + 10_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("the actor pipeline did not answer within " + timeout.plusSeconds(10), e);
        }
        return new GenerationResult(done.promptTokenIds(), done.tokenIds(), done.stopReason(), done.timings(), done.speculation());
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() {
        onClose.run();
    }
}
