package io.ppsd.runtime.ppsd;

/**
 * The protocol logic of one pipeline stage, independent of how messages travel. A driver (a thread
 * or an actor) hands it messages one at a time and, between messages, lets it take work of its own
 * ({@link #step}) so that incoming rollbacks are seen between positions.
 */
public interface PipelineStage {
    void handle(PipelineMessage message);

    /** Does one unit of own work (one drafted position) if there is any; false when idle. */
    default boolean step() {
        return false;
    }

    /** Sequences with state on this stage (for tests and leak checks). */
    int activeSequences();
}
