package io.ppsd.benchmarks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.actors.probe.HopLatency;
import io.ppsd.benchmarks.model.RandomLlama;
import io.ppsd.benchmarks.run.HopProbing;
import io.ppsd.benchmarks.run.HopReport;
import io.ppsd.benchmarks.run.OpenedStages;
import io.ppsd.benchmarks.run.PipelineSetup;
import io.ppsd.benchmarks.run.Transport;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The actor transports of the harness: the pipeline in one JVM and spread over node JVMs on
 * loopback generate exactly AR's greedy tokens (for the full token budget: the end-of-sequence
 * token must not stop them), and their hop probes see local hops in one JVM and remote hops
 * between node JVMs.
 */
class ActorTransportsTest {
    @TempDir
    Path tmp;

    @Test
    void actorTransportsGenerateArTokensAndMeasureTheirHops() throws Exception {
        Path model = RandomLlama.tiny().write(tmp.resolve("tiny"));
        // The gateway detokenizes what it streams: any tokenizer covering the tiny vocabulary will do.
        Files.copy(Path.of("../models/ppsd-mini/tokenizer.json"), model.resolve("tokenizer.json"));
        int[] prompt = {5, 17, 33, 2, 90, 41};
        int tokens = 24;
        int[] expected;
        try (var files = ModelFiles.open(model); var whole = new CpuStageExecutor(files, StageSpec.whole(8), 1, LoadProgress.NONE)) {
            expected = new AutoregressiveDecoder(whole).generate(GenerationRequest.greedy(prompt, tokens), TokenListener.NONE).generated();
        }
        var plan = StagePlan.forExitLayer(8, 4);
        var setup = new PipelineSetup(model, "norm", plan, io.ppsd.runtime.ppsd.DraftWindow.defaultFor(plan.stageCount()), 32, List.of("cpu:0x1", "cpu:1x1"), new OpenedStages(List.of(), List.of()));

        for (String name : List.of("actors", "actors-cluster")) {
            try (var decoder = Transport.named(name).pipeline(setup)) {
                for (int i = 0; i < 2; i++) {
                    var result = decoder.generate(GenerationRequest.greedy(prompt, tokens), TokenListener.NONE);
                    assertArrayEquals(expected, result.generated(), name);
                    assertTrue(result.speculation().draftsVerified() > 0, name + ": drafts were verified");
                }
                HopReport hops = ((HopProbing) decoder).hops(64);
                assertEquals(name.equals("actors") ? 1 : 3, hops.jvms(), name);
                // Two stages on the two devices: in one JVM both hops are local; over two node JVMs
                // with one device each, both cross nodes.
                assertEquals(1, hops.latency().size(), name + ": " + hops.latency());
                HopLatency h = hops.latency().getFirst();
                assertEquals(name.equals("actors") ? "local" : "remote", h.kind(), name);
                assertTrue(h.count() >= 2 * 100 && h.medianMicros() > 0 && h.medianMicros() <= h.p99Micros(), name + ": " + h);
                System.err.println(name + ": " + h);
            }
        }
    }
}
