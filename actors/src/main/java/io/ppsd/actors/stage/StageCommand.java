package io.ppsd.actors.stage;

import io.ppsd.actors.session.SessionCommand;
import io.ppsd.runtime.ppsd.PipelineMessage;
import org.apache.pekko.actor.typed.ActorRef;

/** The protocol of {@link StageEntity}. */
public sealed interface StageCommand {

    /**
     * A PPSD protocol message for this stage, with the session of its sequence (to which the stage
     * reports commits and failures). Serialized by {@link StageMessageSerializer}.
     */
    record Deliver(PipelineMessage message, ActorRef<SessionCommand> session) implements StageCommand {}

    /** Self-message: do one unit of own work (stage 0 drafts one position), then look at the mailbox again. */
    enum Step implements StageCommand, org.apache.pekko.actor.NoSerializationVerificationNeeded { INSTANCE }
}
