package io.ppsd.benchmarks.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.ppsd.runtime.ppsd.DraftWindow;
import org.junit.jupiter.api.Test;

class WindowChoiceTest {
    @Test
    void windowsRelativeToTheStageCount() {
        assertEquals(DraftWindow.adaptive(6), WindowChoice.parse("adaptive").forStages(4));
        assertEquals(DraftWindow.adaptive(5), WindowChoice.parse("adaptive:S+1").forStages(4));
        assertEquals(DraftWindow.adaptive(3), WindowChoice.parse("adaptive:3").forStages(8));
        assertEquals(DraftWindow.fixed(4), WindowChoice.parse("S").forStages(4));
        assertEquals(DraftWindow.fixed(3), WindowChoice.parse("S-1").forStages(4));
        assertEquals(DraftWindow.fixed(1), WindowChoice.parse("S-3").forStages(2), "never below 1");
        assertEquals(DraftWindow.fixed(10), WindowChoice.parse("S+2").forStages(8));
        assertEquals(DraftWindow.fixed(5), WindowChoice.parse("5").forStages(2));
        for (String bad : new String[] {"", "adaptive:", "S*2", "fixed", "-1", "adaptiveS"}) {
            assertThrows(IllegalArgumentException.class, () -> WindowChoice.parse(bad), bad);
        }
    }
}
