package io.ppsd.runtime.ppsd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.StopReason;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The session side of a pipeline: commits in order, stop rules, reports, and the one steps formula. */
class SequenceAccountTest {

    @Test
    void commitsInOrderAndIgnoresDuplicatesAndStrayPositions() {
        List<Integer> streamed = new ArrayList<>();
        var account = new SequenceAccount(GenerationRequest.greedy(new int[] {1, 2, 3}, 4, 9), streamed::add, 100, 3, System.nanoTime());
        assertTrue(account.commit(3, 10));
        assertTrue(account.commit(3, 11), "a duplicate of position 3 is ignored");
        assertTrue(account.commit(7, 12), "a position ahead of the output is ignored");
        assertTrue(account.commit(4, 13));
        assertArrayEquals(new int[] {1, 2, 3, 10, 13}, account.committedPath());
        assertFalse(account.commit(5, 9), "the stop token ends the generation");
        assertFalse(account.commit(6, 14), "nothing is committed after the end");
        assertEquals(List.of(10, 13), streamed);
        var r = account.result();
        assertArrayEquals(new int[] {10, 13}, r.generated());
        assertEquals(StopReason.EOS, r.stopReason());
    }

    @Test
    void stepsCountOneVerificationAndARefillPerRejection() {
        var account = new SequenceAccount(GenerationRequest.greedy(new int[] {1}, 3), t -> {}, 100, 4, System.nanoTime());
        for (int p = 1; p <= 3; p++) account.commit(p, 5);
        assertTrue(account.done());
        assertFalse(account.report(new StageReport(0, 12, 4, 0, 0, 0)));
        assertFalse(account.report(new StageReport(1, 10, 2, 1, 0, 0)));
        assertFalse(account.report(new StageReport(1, 10, 2, 1, 0, 0)), "a stage reporting twice counts once");
        assertFalse(account.report(new StageReport(2, 10, 2, 1, 0, 0)));
        assertTrue(account.report(new StageReport(3, 10, 2, 0, 10, 7)));
        var s = account.result().speculation();
        assertEquals(10, s.draftsVerified());
        assertEquals(7, s.draftsAccepted());
        assertEquals(10 + 3 * 3, s.steps(), "10 verifications + (S − 1) = 3 steps of refill for each of 3 rejections");
        assertEquals(10, s.wastedStageSteps());
        assertEquals(3, s.tokensCommitted());
        var t = account.result().timings();
        assertEquals(1, t.promptTokens());
        assertEquals(3, t.generatedTokens());
        assertTrue(t.promptNanos() >= 0 && t.generationNanos() >= 0);
        assertThrows(IllegalArgumentException.class, () -> account.report(new StageReport(4, 0, 0, 0, 0, 0)));
    }

    @Test
    void aNewAttemptForgetsReportsButKeepsTheOutput() {
        var account = new SequenceAccount(GenerationRequest.greedy(new int[] {1, 2}, 5), t -> {}, 100, 2, System.nanoTime());
        account.commit(2, 7);
        account.report(new StageReport(0, 1, 0, 0, 0, 0));
        account.newAttempt();
        assertArrayEquals(new int[] {1, 2, 7}, account.committedPath(), "a rebuild re-prefills the committed tokens");
        assertFalse(account.report(new StageReport(1, 1, 0, 0, 1, 1)), "stage 0's report of the abandoned attempt is gone");
        account.cancel();
        assertTrue(account.done());
        assertEquals(StopReason.CANCELLED, account.result().stopReason());
    }

    @Test
    void nothingToGenerateIsDoneAtOnce() {
        var account = new SequenceAccount(GenerationRequest.greedy(new int[] {1, 2}, 0), t -> {}, 100, 2, System.nanoTime());
        assertTrue(account.done());
        assertEquals(0, account.result().generated().length);
        assertEquals(StopReason.MAX_TOKENS, account.result().stopReason());
    }
}
