package io.ppsd.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** DType.roundToBf16 against values worked out by hand from the bit patterns (round to nearest, ties to even). */
class Bf16RoundingTest {
    private static float bits(int b) {
        return Float.intBitsToFloat(b);
    }

    @Test
    void roundsToNearestWithTiesToEven() {
        assertEquals(1.0f, DType.roundToBf16(1.0f));                        // exact
        assertEquals(bits(0x3f800000), DType.roundToBf16(bits(0x3f807fff))); // below half an ulp: down
        assertEquals(bits(0x3f810000), DType.roundToBf16(bits(0x3f808001))); // above half: up
        assertEquals(bits(0x3f800000), DType.roundToBf16(bits(0x3f808000))); // tie, even mantissa stays
        assertEquals(bits(0x3f820000), DType.roundToBf16(bits(0x3f818000))); // tie, odd mantissa goes up to even
        assertEquals(bits(0xbf820000), DType.roundToBf16(bits(0xbf818000))); // sign plays no part
        assertEquals(3.140625f, DType.roundToBf16((float) Math.PI));        // 0x40490fdb -> 0x40490000
    }

    @Test
    void extremes() {
        assertEquals(Float.POSITIVE_INFINITY, DType.roundToBf16(Float.POSITIVE_INFINITY));
        assertEquals(Float.NEGATIVE_INFINITY, DType.roundToBf16(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, DType.roundToBf16(Float.MAX_VALUE)); // past the largest BF16
        assertTrue(Float.isNaN(DType.roundToBf16(Float.NaN)));
        assertTrue(Float.isNaN(DType.roundToBf16(bits(0x7f800001))));  // a NaN whose payload would round to infinity
        assertEquals(0.0f, DType.roundToBf16(Float.MIN_VALUE * 0));
        assertEquals(-0.0f, DType.roundToBf16(-0.0f));
    }
}
