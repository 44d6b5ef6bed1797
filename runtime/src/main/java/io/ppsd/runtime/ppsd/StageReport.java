package io.ppsd.runtime.ppsd;

/**
 * One stage's account of a finished sequence: positions computed while decoding, positions of
 * those thrown away by rollbacks (wasted stage-steps), messages dropped as stale. The verifier
 * also counts drafts verified and accepted.
 */
public record StageReport(int stage, long decodePositions, long wastedPositions, long droppedMessages,
                          long draftsVerified, long draftsAccepted) {}
