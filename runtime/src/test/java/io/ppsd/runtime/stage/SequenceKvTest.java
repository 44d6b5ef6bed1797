package io.ppsd.runtime.stage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Contiguous cache storage doubles, but never past the context nor past what the sequence reserved in its budget. */
class SequenceKvTest {

    /** Storage that only records its capacity (a device allocation, say). */
    private static final class Contiguous extends SequenceKv {
        int grownTo;

        Contiguous(int maxPositions) {
            super(maxPositions, 64);
        }

        @Override
        protected void grow(int newCapacity) {
            grownTo = newCapacity;
        }
    }

    @Test
    void growthDoublesWithinTheReservationAndTheContext() {
        var kv = new Contiguous(4096);
        kv.reserve(65);
        assertEquals(128, kv.capacity(), "doubling without a reservation");
        kv.budgeted = 300;
        kv.reserve(200);
        assertEquals(256, kv.capacity());
        kv.reserve(257);
        assertEquals(300, kv.capacity(), "never past the 300 positions reserved (doubling would hold 512)");
        kv.reserve(1000); // past the reservation (the executor reserves more first): doubling again, within the context
        assertEquals(1200, kv.capacity());
        kv.reserve(3000);
        assertEquals(4096, kv.capacity(), "never past the context");
        assertEquals(4096, kv.grownTo);
    }
}
