package io.ppsd.actors.stage;

import io.ppsd.actors.session.SessionCommand;
import io.ppsd.runtime.ppsd.PipelineMessage;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/** The protocol of {@link StageEntity}. */
public sealed interface StageCommand {

    /**
     * A PPSD protocol message for this stage, with the session of its sequence (to which the stage
     * reports commits and failures). Serialized by {@link StageMessageSerializer}.
     */
    record Deliver(PipelineMessage message, ActorRef<SessionCommand> session) implements StageCommand {}

    /**
     * Asks the stage whether it serves: a loaded stage answers ready, one that could not load
     * answers why; a stage that has no device yet does not answer (the asker times out).
     */
    record Status(ActorRef<StageStatus> replyTo) implements StageCommand, io.ppsd.actors.protocol.CborSerializable {}

    /**
     * The answer to {@link Status}: which stage, whether it serves, why not, how many sequences it
     * holds, and to how many other stages of its pipeline it sends on the direct path ({@link StageLink}).
     */
    record StageStatus(String stage, boolean ready, String reason, int sequences, int directLinks) implements io.ppsd.actors.protocol.CborSerializable {}

    /**
     * On the entity path: stage {@code fromStage} asks to send to this stage directly; answered
     * with a {@link Welcome} to {@code replyTo} once taken from the mailbox (see {@link StageLink}).
     */
    record Introduce(int fromStage, long attempt, ActorRef<StageCommand> replyTo) implements StageCommand, io.ppsd.actors.protocol.CborSerializable {}

    /** The answer to an {@link Introduce}: the stage's own actor, the direct path to it. */
    record Welcome(int fromStage, long attempt, ActorRef<StageCommand> stage) implements StageCommand, io.ppsd.actors.protocol.CborSerializable {}

    /** Self-message: the introduction {@code attempt} to stage {@code toStage} is still unanswered. */
    record IntroductionDue(int toStage, long attempt) implements StageCommand, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    /** Self-message: introduce this stage to stage {@code toStage} again (its link is on the entity path). */
    record Reintroduce(int toStage) implements StageCommand, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

    /** Self-message: do one unit of own work (stage 0 drafts one position), then look at the mailbox again. */
    enum Step implements StageCommand, org.apache.pekko.actor.NoSerializationVerificationNeeded { INSTANCE }

    /**
     * Self-message of a middle stage or the verifier: run the decode rows gathered since it was
     * sent (everything that queued behind it in the mailbox joins) as one call.
     */
    enum Flush implements StageCommand, org.apache.pekko.actor.NoSerializationVerificationNeeded { INSTANCE }

    /**
     * A measurement message that takes the path the decode traffic takes — stage 0 → 1 → … → last
     * (the hidden-state hops), last → 0 (the verdict hop) — and then returns to {@code replyTo}.
     * It goes through the same entity references, mailboxes, dispatcher and serializer as a
     * {@link Deliver}, carrying {@code payload} as a hidden-state row would. Every stage appends a
     * {@link Stamp} when it forwards it, so the time of each hop can be read off the trail.
     * See {@link io.ppsd.actors.probe.HopProbe}.
     */
    record Probe(long id, float[] payload, List<Stamp> trail, ActorRef<Probe> replyTo) implements StageCommand {
        public Probe {
            trail = List.copyOf(trail);
        }

        /**
         * Where the probe was ({@code stage}, -1 for the prober) on which node (cluster address),
         * when it arrived and when it was sent on, in {@link System#nanoTime()} of that node.
         */
        public record Stamp(int stage, String node, long receivedNanos, long sentNanos) {}

        /** This probe with one more stamp on its trail. */
        public Probe stamped(Stamp stamp) {
            var longer = new java.util.ArrayList<>(trail);
            longer.add(stamp);
            return new Probe(id, payload, longer, replyTo);
        }

        /** True when stage 0 already saw this probe: back at stage 0, its cycle is complete. */
        public boolean passedStageZero() {
            return trail.stream().anyMatch(s -> s.stage() == 0);
        }
    }
}
