package io.ppsd.runtime.ppsd;

/**
 * One stage's account of a finished sequence: positions computed while decoding, positions of
 * those thrown away by rollbacks (wasted stage-steps), messages dropped as stale. The verifier
 * also counts drafts verified and accepted, and the model calls that verified them (PPSD's
 * verifier checks one draft per call; a PipeSpec level a window of them).
 */
public record StageReport(int stage, long decodePositions, long wastedPositions, long droppedMessages,
                          long draftsVerified, long draftsAccepted, long verifyCalls) {

    /** A PPSD stage's report: one verification call per draft verified. */
    public StageReport(int stage, long decodePositions, long wastedPositions, long droppedMessages, long draftsVerified, long draftsAccepted) {
        this(stage, decodePositions, wastedPositions, droppedMessages, draftsVerified, draftsAccepted, draftsVerified);
    }
}
