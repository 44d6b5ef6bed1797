package io.ppsd.runtime.pipespec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.PipelineMessage.Proposed;
import io.ppsd.runtime.ppsd.PipelineMessage.Verdict;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three levels driven by hand in one thread, in a random order chosen by a seed: at each turn one
 * level takes a step or one message in flight is delivered (per channel in order, as both
 * transports guarantee). After every turn each level's KV cache must equal a recomputation from its
 * own tokens (the pending token's logits from the cache equal those of a fresh run over the whole
 * sequence), whatever acceptances, corrections and cascades came before; and the target's tokens
 * are the AR tokens.
 */
class LevelRollbackTest {
    @TempDir
    Path tmp;

    @Test
    void everyLevelsCacheEqualsARecomputationAfterRandomSchedules() {
        var model = new RandomModel(4, 32, 4, 2, 48, 64, 128, 33);
        Path target = model.write(tmp.resolve("target"), 2, 0.4f);
        Path small = model.writeTruncated(tmp.resolve("d1"), 2, 0.4f, 1);
        Path middle = model.writeTruncated(tmp.resolve("d2"), 2, 0.4f, 2);
        List<ModelFiles> files = new ArrayList<>();
        List<StageExecutor> executors = new ArrayList<>();
        try {
            List<ModelLevel> levels = new ArrayList<>();
            List<StageExecutor> references = new ArrayList<>();
            for (Path dir : List.of(small, middle, target)) {
                var f = ModelFiles.open(dir);
                files.add(f);
                var stage = new CpuStageExecutor(f, StageSpec.whole(f.config().numLayers()), 1, LoadProgress.NONE);
                var reference = new CpuStageExecutor(f, StageSpec.whole(f.config().numLayers()), 1, LoadProgress.NONE);
                executors.add(stage);
                executors.add(reference);
                references.add(reference);
                levels.add(new ModelLevel(dir.getFileName().toString(), List.of(stage)));
            }
            int[] prompt = model.prompt(5, 7);
            int maxNew = 30;
            int[] expected = new AutoregressiveDecoder(references.getLast()).generate(GenerationRequest.greedy(prompt, maxNew), TokenListener.NONE)
                    .generated();
            long corrections = 0, checks = 0;
            for (long seed = 1; seed <= 6; seed++) {
                var random = new SplittableRandom(seed);
                int k = levels.size();
                List<ArrayDeque<PipelineMessage>> up = new ArrayList<>(), down = new ArrayList<>();
                for (int i = 0; i < k; i++) {
                    up.add(new ArrayDeque<>());
                    down.add(new ArrayDeque<>());
                }
                List<Integer> committed = new ArrayList<>();
                List<HierarchyLevel> states = new ArrayList<>();
                for (int i = 0; i < k; i++) {
                    int level = i;
                    HierarchyLevel.Outbox outbox = new HierarchyLevel.Outbox() {
                        @Override
                        public void up(Proposed p) {
                            if (level == k - 1) for (int t : p.tokens()) committed.add(t);
                            else up.get(level + 1).add(p);
                        }

                        @Override
                        public void down(Verdict v) {
                            down.get(level - 1).add(v);
                        }
                    };
                    states.add(new HierarchyLevel(i, i == k - 1, levels.get(i), seed, prompt, prompt.length + maxNew, 1 + random.nextInt(6),
                            random.nextInt(2), random.nextBoolean() ? WindowPolicy.fixed(1 + random.nextInt(4)) : WindowPolicy.adaptive(4),
                            SamplingParams.greedy(), outbox));
                    states.get(i).prefill();
                }
                for (int turn = 0; turn < 2000 && committed.size() < maxNew; turn++) {
                    int choice = random.nextInt(3 * k);
                    int i = choice % k;
                    switch (choice / k) {
                        case 0 -> {
                            if (states.get(i).canStep()) states.get(i).step();
                        }
                        case 1 -> {
                            if (!up.get(i).isEmpty()) states.get(i).receive(up.get(i).poll());
                        }
                        default -> {
                            if (!down.get(i).isEmpty()) {
                                var v = (Verdict) down.get(i).poll();
                                if (v.corrects()) corrections++;
                                states.get(i).receive(v);
                            }
                        }
                    }
                    for (int l = 0; l < k; l++) {
                        assertCacheMatches(levels.get(l), references.get(l), seed, states.get(l).sequence(), "seed " + seed + " turn " + turn + " level " + l);
                        checks++;
                    }
                }
                int[] out = committed.stream().limit(maxNew).mapToInt(Integer::intValue).toArray();
                assertArrayEquals(expected, out, "seed " + seed);
                states.forEach(HierarchyLevel::release);
            }
            assertTrue(corrections > 10, "corrections must occur: " + corrections);
            assertTrue(checks > 1000);
        } finally {
            executors.forEach(StageExecutor::close);
            files.forEach(ModelFiles::close);
        }
    }

    /** The level's cached positions, extended by its pending token, give the logits a fresh run over its whole sequence gives. */
    private static void assertCacheMatches(ModelLevel level, StageExecutor reference, long seq, int[] sequence, String where) {
        int kv = level.length(seq);
        int n = sequence.length;
        assertTrue(kv <= n - 1, where + ": " + kv + " cached positions for " + n + " tokens");
        var c = level.config();
        int dim = c.hiddenSize(), vocab = c.vocabSize();
        float[] hidden = new float[(n - kv) * dim];
        float[] cached = new float[(n - kv) * vocab];
        level.run(seq, kv, sequence, kv, n - kv, hidden, cached);
        level.truncate(seq, kv);
        assertEquals(kv, level.length(seq));
        long fresh = Long.MAX_VALUE;
        reference.release(fresh);
        float[] all = new float[n * dim];
        reference.embed(sequence, 0, n, all);
        reference.forward(fresh, 0, n, all);
        float[] recomputed = new float[vocab];
        reference.logits(Arrays.copyOfRange(all, (n - 1) * dim, n * dim), 1, recomputed);
        reference.release(fresh);
        for (int v = 0; v < vocab; v++) {
            float a = cached[(n - kv - 1) * vocab + v], b = recomputed[v];
            assertTrue(Math.abs(a - b) <= 1e-4f * Math.max(1, Math.abs(b)), where + ": logit " + v + " from the cache " + a + ", recomputed " + b);
        }
    }
}
