package io.ppsd.runtime.ppsd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.ppsd.PipelineMessage.Batch;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Restart;
import org.junit.jupiter.api.Test;

/** The load rule of stage 0 and the gathering of decode rows at the later stages. */
class SpeculationByLoadTest {

    @Test
    void memoryBoundCallsKeepSpeculatingAndComputeBoundOnesStopForPoorDrafts() {
        var memoryBound = new SpeculationByLoad();
        for (int rows = 1; rows <= 32; rows++) memoryBound.call(rows, 1_000_000 + 1_000L * rows); // 1 ms a call, 1 µs a row
        assertTrue(memoryBound.speculate(0.3, 6, 32, 4), "rows nearly free: speculation costs nothing");
        assertTrue(memoryBound.speculate(0.0, 4, 1, 4), "one session: PPSD's own regime (e = 1/(1+3) ≥ 1/S)");

        var computeBound = new SpeculationByLoad();
        for (int rows = 1; rows <= 32; rows++) computeBound.call(rows, 10_000L + 100_000L * rows); // every row costs
        assertFalse(computeBound.speculate(0.3, 6, 32, 4), "rows cost and most drafts are wrong: pipeline plainly");
        assertTrue(computeBound.speculate(1.0, 6, 32, 4), "drafts always right: nothing is thrown away");
        assertTrue(computeBound.speculate(0.3, 1, 32, 4), "a window of one is plain pipelining already");

        var fresh = new SpeculationByLoad();
        assertTrue(fresh.speculate(0.0, 6, 32, 4), "nothing measured yet: speculate");
    }

    @Test
    void decodeRowsOfDistinctSequencesGatherAndAnythingElseWaitsItsTurn() {
        var pending = new PendingRows();
        assertNull(pending.drain());
        assertTrue(pending.offer(row(1, 5)));
        assertTrue(pending.offer(new Batch(java.util.List.of(row(2, 7), row(3, 9)))));
        assertFalse(pending.offer(row(2, 8)), "a second row of sequence 2 must run after its first");
        assertFalse(pending.offer(new Restart(4, 1, 3, 11)), "control messages are not rows");
        assertFalse(pending.offer(new Hidden(5, 0, 0, 0, 3, new float[6], -1, null, null)), "prefill chunks travel alone");
        var m = (Batch) pending.drain();
        assertEquals(java.util.List.of(1L, 2L, 3L), m.parts().stream().map(Hidden::seq).toList());
        assertTrue(pending.isEmpty());
        assertTrue(pending.offer(row(2, 8)));
        assertTrue(pending.drain() instanceof Hidden h && h.seq() == 2, "a lone row stays a row");
    }

    private static Hidden row(long seq, int pos) {
        return new Hidden(seq, 1, 0, pos, 1, new float[2], 42, null, null);
    }
}
