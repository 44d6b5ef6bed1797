package io.ppsd.benchmarks.suite;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.heads.ExitHeadKind;
import io.ppsd.runtime.model.ModelConfig;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** An early-exit head to draft with: a shipped head, or {@code norm} at any exit layer. */
public record HeadChoice(String name, ExitHeadKind kind, int exitLayer) {
    private static final Logger log = LoggerFactory.getLogger(HeadChoice.class);

    /** {@code norm} at {@code exitLayer}, then every shipped head exiting there. */
    public static List<HeadChoice> at(Path modelDir, ModelConfig config, int exitLayer) {
        List<HeadChoice> heads = new ArrayList<>();
        heads.add(new HeadChoice(ExitHeadFile.NORM, ExitHeadKind.NORM, exitLayer));
        for (HeadChoice h : shipped(modelDir, config)) if (h.exitLayer() == exitLayer) heads.add(h);
        return heads;
    }

    /** The heads in the model's {@code exit_heads/}, ordered by exit layer and name. */
    public static List<HeadChoice> shipped(Path modelDir, ModelConfig config) {
        List<HeadChoice> heads = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (String name : ExitHeadFile.available(modelDir)) {
                try {
                    var f = ExitHeadFile.read(modelDir, name, 0, config, arena);
                    // A shipped norm head is the pseudo-head "norm" at its layer, which every exit gets anyway.
                    if (f.kind() != ExitHeadKind.NORM) heads.add(new HeadChoice(name, f.kind(), f.exitLayer()));
                } catch (RuntimeException e) {
                    log.warn("skipping exit head {}: {}", name, e.getMessage());
                }
            }
        }
        heads.sort(Comparator.comparingInt(HeadChoice::exitLayer).thenComparing(HeadChoice::name));
        return heads;
    }
}
