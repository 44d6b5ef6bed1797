package io.ppsd.runtime.decode;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * JMH microbenchmark of sampling one token ({@link Sampler#sample}: softmax at temperature 0.8,
 * then top-k / top-p) at a Llama-3 (128256) and a Llama-2 (32000) vocabulary:
 * {@code ./ppsd bench --jmh --jmh-args SamplerBench}.
 *
 * <p>The logits are Gaussian (σ 2.5) with 16 tokens raised to about 10: at top-p 0.9 that keeps
 * from a few dozen to about 1700 tokens at 128k (a few to about 100 at 32k), a spread that a
 * sampler meets between confident and uncertain positions. The benchmark cycles through
 * {@link #ROWS} such rows so neither the caches nor the branch predictors see one row only.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Thread)
public class SamplerBench {
    static final int ROWS = 8;

    @Param({"128256", "32000"})
    public int vocab;

    /** {@code topK,topP}; {@code 0,1.0} (no cut) is the floor: softmax and the draw alone. */
    @Param({"50,1.0", "0,0.9", "40,0.95", "0,1.0"})
    public String cut;

    Sampler sampler;
    float[] logits;
    final int[] history = new int[0];
    int row;

    @Setup(Level.Trial)
    public void setUp() {
        String[] kp = cut.split(",");
        sampler = new Sampler(new SamplingParams(0.8f, Integer.parseInt(kp[0]), Float.parseFloat(kp[1]), 1f, 42), vocab);
        logits = realisticLogits(ROWS, vocab, 7);
    }

    static float[] realisticLogits(int rows, int vocab, long seed) {
        var r = new SplittableRandom(seed);
        float[] l = new float[rows * vocab];
        for (int row = 0; row < rows; row++) {
            int off = row * vocab;
            for (int i = 0; i < vocab; i++) l[off + i] = (float) (r.nextGaussian() * 2.5);
            for (int j = 0; j < 16; j++) l[off + r.nextInt(vocab)] = (float) (10 + r.nextGaussian() * 2);
        }
        return l;
    }

    @Benchmark
    public int sample() {
        int off = row * vocab;
        row = (row + 1) % ROWS;
        return sampler.sample(logits, off, history, 0);
    }
}
