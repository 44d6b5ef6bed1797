package io.ppsd.actors;

import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.stage.StageSpec;
import io.ppsd.runtime.testing.RandomModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Random models for actor tests, with the shipped tokenizer beside them, and their AR reference. */
final class TestModels {
    private TestModels() {}

    static Path write(RandomModel model, Path dir, int exitLayer, float lateScale) {
        model.write(dir, exitLayer, lateScale);
        try {
            Files.copy(Path.of("../models/ppsd-mini/tokenizer.json"), dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }

    /** Greedy AR tokens, computed in-process: the reference the actor pipeline must match. */
    static int[] autoregressive(Path dir, int[] prompt, int maxTokens) {
        try (var files = ModelFiles.open(dir);
             var whole = new CpuStageExecutor(files, StageSpec.whole(files.config().numLayers()), 1, LoadProgress.NONE)) {
            return new AutoregressiveDecoder(whole).generate(GenerationRequest.greedy(prompt, maxTokens, 1), TokenListener.NONE).generated();
        }
    }
}
