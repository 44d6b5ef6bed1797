package io.ppsd.runtime.cpu;

import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.ModelConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * JMH microbenchmarks of the CPU engine's hot kernels on one core. This class sits in the
 * engine's package (in the benchmarks module: packages may span jars on the class path) because
 * the kernels are package-private.
 * <ul>
 *   <li>{@code matmul}: an MLP projection of the ~240M model (2816 × 1024) in F32 and BF16, for
 *       1 position (decode) and 4 / 8 positions (verification, prefill: a weight row is read once
 *       per 4 positions).</li>
 *   <li>{@code attention}: one query position over {@code context} cached positions, all heads of a
 *       1024-wide layer with 4 KV heads, the way {@code CpuForward} computes it.</li>
 *   <li>{@code layer}: a whole decoder layer for one position at a given context length.</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class KernelBench {
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static Matrix randomMatrix(Arena arena, DType dtype, int rows, int cols, long seed) {
        var r = new SplittableRandom(seed);
        long n = (long) rows * cols;
        MemorySegment m = arena.allocate(n * dtype.bytes, 64);
        for (long i = 0; i < n; i++) {
            float v = (float) r.nextGaussian() * 0.03f;
            if (dtype == DType.F32) m.setAtIndex(LE_FLOAT, i, v);
            else m.setAtIndex(LE_SHORT, i, (short) (Float.floatToRawIntBits(v) >>> 16));
        }
        return new Matrix(m, dtype, rows, cols);
    }

    @State(Scope.Thread)
    public static class MatmulState {
        @Param({"F32", "BF16"})
        public String dtype;

        @Param({"1", "4", "8"})
        public int positions;

        final int rows = 2816, cols = 1024;
        Arena arena;
        Matrix w;
        float[] x, out;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofShared();
            w = randomMatrix(arena, DType.valueOf(dtype), rows, cols, 1);
            x = new float[positions * cols];
            var r = new SplittableRandom(2);
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            out = new float[positions * rows];
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    @Benchmark
    public float matmul(MatmulState s) {
        VectorKernels.matmulRows(s.w, s.x, s.positions, s.out, 0, s.rows, 0, s.rows);
        return s.out[s.out.length - 1];
    }

    @State(Scope.Thread)
    public static class AttentionState {
        @Param({"128", "1024"})
        public int context;

        final int heads = 16, kvHeads = 4, headDim = 64, kvDim = kvHeads * headDim;
        float[] q, keys, values, scores, attOut;

        @Setup(Level.Trial)
        public void setUp() {
            var r = new SplittableRandom(3);
            q = new float[heads * headDim];
            keys = new float[context * kvDim];
            values = new float[context * kvDim];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            for (int i = 0; i < keys.length; i++) {
                keys[i] = (float) r.nextGaussian();
                values[i] = (float) r.nextGaussian();
            }
            scores = new float[context];
            attOut = new float[heads * headDim];
        }
    }

    /** Mirrors {@code CpuForward.attention} for the last position: scores, softmax, weighted values. */
    @Benchmark
    public float attention(AttentionState s) {
        int group = s.heads / s.kvHeads;
        float scale = (float) (1 / Math.sqrt(s.headDim));
        int pos = s.context - 1;
        for (int h = 0; h < s.heads; h++) {
            int qOff = h * s.headDim, kvOff = (h / group) * s.headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= pos; j++) {
                float sc = VectorKernels.dot(s.q, qOff, s.keys, j * s.kvDim + kvOff, s.headDim) * scale;
                s.scores[j] = sc;
                if (sc > max) max = sc;
            }
            float sum = 0;
            for (int j = 0; j <= pos; j++) {
                float e = (float) Math.exp(s.scores[j] - max);
                s.scores[j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            java.util.Arrays.fill(s.attOut, qOff, qOff + s.headDim, 0f);
            for (int j = 0; j <= pos; j++) VectorKernels.axpy(s.scores[j] * inv, s.values, j * s.kvDim + kvOff, s.attOut, qOff, s.headDim);
        }
        return s.attOut[0];
    }

    @State(Scope.Thread)
    public static class LayerState {
        @Param({"1", "512"})
        public int context;

        ModelConfig config;
        Arena arena;
        CoreGroup cores;
        CpuForward forward;
        LayerWeights w;
        KvCache cache;
        float[] x, input;

        @Setup(Level.Trial)
        public void setUp() {
            config = new ModelConfig("llama", 1024, 2816, 1, 16, 4, 64, 32000, 1024, 1e-5f, 10000.0, null, false, 0, new int[] {1}, false, false);
            arena = Arena.ofShared();
            cores = new CoreGroup(1, "jmh");
            forward = new CpuForward(config, cores, 8, io.ppsd.runtime.model.DType.F32);
            float[] ones = new float[1024];
            java.util.Arrays.fill(ones, 1f);
            w = new LayerWeights(ones, randomMatrix(arena, DType.F32, 1024, 1024, 4), randomMatrix(arena, DType.F32, 256, 1024, 5),
                    randomMatrix(arena, DType.F32, 256, 1024, 6), randomMatrix(arena, DType.F32, 1024, 1024, 7), ones,
                    randomMatrix(arena, DType.F32, 2816, 1024, 8), randomMatrix(arena, DType.F32, 2816, 1024, 9),
                    randomMatrix(arena, DType.F32, 1024, 2816, 10));
            cache = new KvCache(1, config.kvDim(), config.maxPositions());
            x = new float[1024];
            input = new float[1024];
            var r = new SplittableRandom(11);
            for (int i = 0; i < input.length; i++) input[i] = (float) r.nextGaussian();
            float[] filler = new float[context * 1024];
            for (int i = 0; i < filler.length; i++) filler[i] = (float) r.nextGaussian();
            cache.reserve(context);
            for (int p = 0; p < context - 1; p += 8) {
                int n = Math.min(8, context - 1 - p);
                forward.layer(w, cache, 0, p, n, filler, p);
                cache.setLength(p + n);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            cores.close();
            arena.close();
        }
    }

    /** One decoder layer (1024 wide, GQA 16/4, MLP 2816) for the position after {@code context - 1} cached ones. */
    @Benchmark
    public void layer(LayerState s, Blackhole bh) {
        int pos = s.context - 1;
        s.cache.truncate(pos);
        System.arraycopy(s.input, 0, s.x, 0, s.x.length);
        s.forward.layer(s.w, s.cache, 0, pos, 1, s.x, 0);
        s.cache.setLength(pos + 1);
        bh.consume(s.x[0]);
    }
}
