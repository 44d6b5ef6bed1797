package io.ppsd.benchmarks.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Streamed random models open in the engine, and the BF16 copy holds the F32 values rounded. */
class RandomLlamaTest {
    @TempDir
    Path tmp;

    @Test
    void writesAModelTheEngineOpensAndABf16CopyOfIt() throws Exception {
        var spec = RandomLlama.tiny();
        Path f32 = spec.write(tmp.resolve("f32"));
        Path bf16 = Bf16Copy.convert(f32, tmp.resolve("bf16"));
        try (var a = ModelFiles.open(f32); var b = ModelFiles.open(bf16)) {
            assertEquals(spec.layers(), a.config().numLayers());
            assertEquals(spec.parameters(), a.tensor("model.embed_tokens.weight").elements() * 2 + spec.layers() * layerParameters(a) + spec.hidden());
            var t32 = a.tensor("model.layers.3.mlp.up_proj.weight");
            var t16 = b.tensor("model.layers.3.mlp.up_proj.weight");
            assertEquals(DType.BF16, t16.dtype());
            assertArrayEquals(t32.shape(), t16.shape());
            for (int i = 0; i < 100; i++) {
                float x = t32.data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                float y = Float.intBitsToFloat(t16.data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i) << 16);
                assertEquals(x, y, Math.abs(x) / 128 + 1e-12, "element " + i);
            }
            assertEquals(spec.exitHeads().size(), ExitHeadFile.available(f32).size());
            int[] prompt = {5, 9, 13, 2, 40};
            try (var s32 = new CpuStageExecutor(a, StageSpec.whole(spec.layers()), 1, LoadProgress.NONE);
                 var s16 = new CpuStageExecutor(b, StageSpec.whole(spec.layers()), 1, LoadProgress.NONE)) {
                int[] x = new AutoregressiveDecoder(s32).generate(GenerationRequest.greedy(prompt, 8), TokenListener.NONE).generated();
                int[] y = new AutoregressiveDecoder(s16).generate(GenerationRequest.greedy(prompt, 8), TokenListener.NONE).generated();
                assertEquals(8, x.length);
                assertEquals(8, y.length);
                assertTrue(x[0] >= 0 && x[0] < spec.vocab());
            }
        }
    }

    private static long layerParameters(ModelFiles f) {
        long n = 0;
        for (String t : new String[] {"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
            n += f.tensor("model.layers.0." + t + ".weight").elements();
        }
        return n;
    }
}
