package io.ppsd.runtime.speculative;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Greedy EESD and PPSD must reproduce greedy autoregressive decoding token for token, for every
 * head kind, exit layer, stage count and draft length, on models where drafts are almost always
 * wrong (random layers) and almost always right (layers after the exit are identity maps).
 */
class GreedyEquivalenceTest {
    @TempDir
    Path tmp;

    static List<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (float lateScale : new float[] {1f, 0f}) {
            for (int exit : new int[] {1, 2, 3, 4, 7}) {
                cases.add(Arguments.of("norm", exit, lateScale));
            }
            cases.add(Arguments.of("linear", 2, lateScale));
            cases.add(Arguments.of("transformer", 2, lateScale));
            cases.add(Arguments.of("transformer", 4, lateScale));
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} head, exit {1}, late-layer scale {2}")
    @MethodSource("cases")
    void speculativeStrategiesReproduceAutoregressiveTokens(String kind, int exit, float lateScale) {
        var model = RandomModel.small(1000 + exit);
        Path dir = model.write(tmp.resolve("m"), exit, lateScale);
        String head = kind.equals("norm") ? "norm" : kind + "-l" + exit;
        try (var files = ModelFiles.open(dir)) {
            List<int[]> prompts = List.of(model.prompt(1, 1), model.prompt(2, 7), model.prompt(3, 40));
            List<int[]> expected = new ArrayList<>();
            try (var whole = new CpuStageExecutor(files, StageSpec.whole(model.layers()), 1, LoadProgress.NONE)) {
                var ar = new AutoregressiveDecoder(whole);
                for (int[] p : prompts) expected.add(ar.generate(GenerationRequest.greedy(p, 24), TokenListener.NONE).generated());
            }
            double alphaSum = 0;
            // EESD, every γ from 1 to 8, fixed and adaptive.
            var eesdStages = StagePlan.draftAndRest(model.layers(), exit).open(head, spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
            try {
                for (int gamma = 1; gamma <= 8; gamma++) {
                    for (boolean adaptive : new boolean[] {false, true}) {
                        var eesd = new EesdDecoder(eesdStages, gamma, adaptive);
                        for (int i = 0; i < prompts.size(); i++) {
                            GenerationResult r = eesd.generate(GenerationRequest.greedy(prompts.get(i), 24), TokenListener.NONE);
                            assertArrayEquals(expected.get(i), r.generated(), "EESD γ=" + gamma + " adaptive=" + adaptive + " prompt " + i);
                            alphaSum += r.speculation().acceptanceRate();
                        }
                    }
                }
            } finally {
                eesdStages.forEach(StageExecutor::close);
            }
            // PPSD over the ⌈N/E⌉-stage partition and over a 2-stage cut at the same exit.
            for (StagePlan plan : List.of(StagePlan.forExitLayer(model.layers(), exit), StagePlan.draftAndRest(model.layers(), exit))) {
                var stages = plan.open(head, spec -> new CpuStageExecutor(files, spec, 1, LoadProgress.NONE));
                try (var pipeline = new InProcessPipeline(stages, 16, InProcessPipeline.Chaos.NONE)) {
                    for (int i = 0; i < prompts.size(); i++) {
                        GenerationResult r = pipeline.generate(GenerationRequest.greedy(prompts.get(i), 24), TokenListener.NONE);
                        assertArrayEquals(expected.get(i), r.generated(), "PPSD " + plan + " prompt " + i);
                        assertEquals(24, r.generated().length);
                    }
                } finally {
                    stages.forEach(StageExecutor::close);
                }
            }
            if (lateScale == 0f && kind.equals("norm")) {
                assertTrue(alphaSum / 48 > 0.99, "identity late layers must make the norm head always right, α=" + alphaSum / 48);
            }
        }
    }
}
