package io.ppsd.actors.stage;

import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.RecipientRef;

/**
 * Test-only link from one stage to another that holds each message for a random time before
 * passing it on ({@code ppsd.test.chaos}). One link per (sender, receiver) and path (entity or
 * direct) keeps that pair's order on that path, as Pekko's transport does; messages from different
 * senders overtake each other freely, and so would a direct message one still on the entity path,
 * if {@link StageLink} let it.
 */
final class ChaosLink {
    private ChaosLink() {}

    static Behavior<StageCommand> create(RecipientRef<StageCommand> target, long seed, int maxDelayMicros) {
        var random = new SplittableRandom(seed);
        return Behaviors.receiveMessage(m -> {
            LockSupport.parkNanos(1000L * random.nextInt(maxDelayMicros + 1));
            target.tell(m);
            return Behaviors.same();
        });
    }
}
