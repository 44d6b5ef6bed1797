package io.ppsd.actors.stage;

import java.util.ArrayDeque;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.RecipientRef;

/**
 * The path from one stage entity to another stage of its pipeline. It starts as the entity path
 * (an {@code EntityRef}: shard region, then the remote region and shard, then the entity — the
 * way that finds the stage wherever it lives) and, once the other stage has answered an
 * introduction, becomes the other entity's own {@link ActorRef} (one remote hop, no region in
 * between). The sender watches that actor; when it stops, the link goes back to the entity path
 * (where sharding starts the stage again) and a new introduction follows.
 *
 * <p>Why per-link FIFO — which the epoch protocol relies on — holds across the switch: both paths
 * are FIFO for one sender and one receiver, but a message on the direct path can overtake one
 * still on the entity path. So the introduction is itself a message on the entity path, sent
 * after every entity-path message of this link, and from then on the link <em>holds</em> what it
 * is given. The receiver answers it (the {@link StageCommand.Welcome}) only once it has taken the
 * introduction from its mailbox — that is, after every entity-path message sent before it. The
 * held messages then go out on the direct path, in order, followed by everything later: every
 * direct message leaves after the receiver had every entity-path one. An introduction without an
 * answer in time (the other stage is still loading, or cannot serve) sends the held messages on
 * the entity path after all — still one path, still in order — and is retried later; a late
 * answer to it is recognised by its attempt number and ignored. Going back is safe for the same
 * reason in reverse: the old actor is gone, so nothing sent to it can arrive after what the new
 * incarnation receives; what was in flight to it is lost with its caches, and the sessions
 * rebuild (the stage tells them at once).
 */
final class StageLink {
    private enum State { ENTITY, INTRODUCING, DIRECT }

    private final int from;
    private final int to;
    private final RecipientRef<StageCommand> entityPath;
    private final ArrayDeque<StageCommand> held = new ArrayDeque<>();
    private State state = State.ENTITY;
    private long attempt;
    private int unanswered;
    private ActorRef<StageCommand> direct;
    private RecipientRef<StageCommand> directPath;

    /** {@code entityPath}: the other stage's entity reference (or a test link in front of it). */
    StageLink(int from, int to, RecipientRef<StageCommand> entityPath) {
        this.from = from;
        this.to = to;
        this.entityPath = entityPath;
    }

    int to() {
        return to;
    }

    boolean isDirect() {
        return state == State.DIRECT;
    }

    /** On the entity path with no introduction under way. */
    boolean onEntityPath() {
        return state == State.ENTITY;
    }

    /** The other stage's actor while the link is direct, else null. */
    ActorRef<StageCommand> direct() {
        return direct;
    }

    void send(StageCommand message) {
        switch (state) {
            case DIRECT -> directPath.tell(message);
            case INTRODUCING -> held.add(message);
            case ENTITY -> entityPath.tell(message);
        }
    }

    /** Starts an introduction (from the entity path only); returns its attempt number, for the timeout. */
    long introduce(ActorRef<StageCommand> self) {
        if (state != State.ENTITY) throw new IllegalStateException("link " + from + " → " + to + " is " + state);
        attempt++;
        entityPath.tell(new StageCommand.Introduce(from, attempt, self));
        state = State.INTRODUCING;
        return attempt;
    }

    /**
     * The other stage answered: the link is direct through {@code path} (its actor, or a test link
     * in front of it) from now on, starting with what it held. False for a stale answer.
     */
    boolean welcomed(StageCommand.Welcome w, RecipientRef<StageCommand> path) {
        if (state != State.INTRODUCING || w.attempt() != attempt) return false;
        direct = w.stage();
        directPath = path;
        state = State.DIRECT;
        unanswered = 0;
        while (!held.isEmpty()) directPath.tell(held.poll());
        return true;
    }

    /** No answer to attempt {@code a} in time: what the link held goes on the entity path. True if the link gave up on it. */
    boolean timedOut(long a) {
        if (state != State.INTRODUCING || a != attempt) return false;
        state = State.ENTITY;
        unanswered++;
        while (!held.isEmpty()) entityPath.tell(held.poll());
        return true;
    }

    /**
     * Introductions unanswered in a row: the next waits 2^n times as long (a stage that answers
     * slowly — still loading, or a starved machine — is not made to hold traffic again and again).
     */
    int unanswered() {
        return unanswered;
    }

    /** The other stage's actor stopped: back to the entity path. True if it was this link's. */
    boolean stopped(ActorRef<?> actor) {
        if (state != State.DIRECT || !actor.equals(direct)) return false;
        state = State.ENTITY;
        direct = null;
        directPath = null;
        return true;
    }
}
