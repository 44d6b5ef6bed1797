package io.ppsd.runtime;

import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.speculative.EesdDecoder;
import io.ppsd.runtime.speculative.SpeedupTheory;
import io.ppsd.runtime.speculative.StagePlan;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A decoding strategy set up on this machine's CPU cores: autoregressive, EESD (draft-then-verify)
 * or PPSD over the in-process pipeline. The CLI and the benchmarks use it; the actor pipeline builds
 * its stages the same way but spreads them over a cluster.
 */
public final class LocalDecoding implements AutoCloseable {
    public enum Strategy {
        AR, EESD, PPSD;

        public static Strategy parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown strategy '" + s + "' (ar, eesd, ppsd)");
            }
        }
    }

    private final Strategy strategy;
    private final String head;
    private final int exitLayer;
    private final int numLayers;
    private final StagePlan plan;
    private final int draftLength;
    private final List<StageExecutor> stages = new ArrayList<>();
    private final List<CoreGroup> coreGroups = new ArrayList<>();
    private final AutoregressiveDecoder ar;
    private final EesdDecoder eesd;
    private final InProcessPipeline pipeline;
    private long nextSeq = 1;

    public LocalDecoding(ModelFiles files, Strategy strategy, String head, Integer exitLayer, int draftLength, boolean adaptive,
                         int[] stageSizes, int cores, LoadProgress progress) {
        this.strategy = strategy;
        this.numLayers = files.config().numLayers();
        this.draftLength = draftLength;
        if (strategy == Strategy.AR) {
            this.head = null;
            this.exitLayer = numLayers;
            this.plan = null;
            var whole = new CpuStageExecutor(files, StageSpec.whole(numLayers), cores, progress);
            stages.add(whole);
            ar = new AutoregressiveDecoder(whole);
            eesd = null;
            pipeline = null;
            return;
        }
        this.head = head != null ? head : ExitHeadFile.defaultHead(files.dir(), files.config());
        this.exitLayer = ExitHeadFile.resolveExitLayer(files.dir(), files.config(), this.head, exitLayer);
        ar = null;
        if (strategy == Strategy.EESD) {
            plan = StagePlan.draftAndRest(numLayers, this.exitLayer);
            var group = new CoreGroup(cores, "eesd");
            coreGroups.add(group);
            stages.addAll(plan.open(this.head, spec -> new CpuStageExecutor(files, spec, group, false, CpuStageExecutor.DEFAULT_MAX_BATCH, progress)));
            eesd = new EesdDecoder(stages, draftLength, adaptive);
            pipeline = null;
        } else {
            plan = stageSizes != null ? StagePlan.ofSizes(numLayers, stageSizes) : StagePlan.forExitLayer(numLayers, this.exitLayer);
            if (plan.exitLayer() != this.exitLayer) {
                throw new IllegalArgumentException("the first stage " + plan.layers(0) + " must end at the exit layer " + this.exitLayer);
            }
            int perStage = Math.max(1, cores / plan.stageCount());
            stages.addAll(plan.open(this.head, spec -> new CpuStageExecutor(files, spec, perStage, progress)));
            eesd = null;
            pipeline = new InProcessPipeline(stages, 32, InProcessPipeline.Chaos.NONE);
        }
    }

    /**
     * The token ids of a prompt text: the tokenizer's own template, and the config's BOS in front
     * when the model declares one and the template did not add it (LLaMA models are trained with it).
     */
    public static int[] promptIds(io.ppsd.runtime.tokenizer.Tokenizer tokenizer, io.ppsd.runtime.model.ModelConfig config, String text) {
        int[] ids = tokenizer.encode(text, true);
        int bos = config.bosTokenId();
        if (bos >= 0 && (ids.length == 0 || ids[0] != bos)) {
            int[] withBos = new int[ids.length + 1];
            withBos[0] = bos;
            System.arraycopy(ids, 0, withBos, 1, ids.length);
            return withBos;
        }
        return ids;
    }

    /** The end-of-sequence ids that stop generation (config first, tokenizer's otherwise). */
    public static int[] stopTokens(io.ppsd.runtime.tokenizer.Tokenizer tokenizer, io.ppsd.runtime.model.ModelConfig config) {
        int eos = config.eosTokenId() >= 0 ? config.eosTokenId() : tokenizer.eosId();
        return eos >= 0 ? new int[] {eos} : new int[0];
    }

    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        return switch (strategy) {
            case AR -> ar.generate(nextSeq++, request, listener);
            case EESD -> eesd.generate(nextSeq++, request, listener);
            case PPSD -> pipeline.generate(request, listener);
        };
    }

    public Strategy strategy() {
        return strategy;
    }

    public StagePlan plan() {
        return plan;
    }

    public int exitLayer() {
        return exitLayer;
    }

    public String describe() {
        return switch (strategy) {
            case AR -> "ar";
            case EESD -> "eesd(head=" + head + ", E=" + exitLayer + ", γ=" + draftLength + ")";
            case PPSD -> "ppsd(head=" + head + ", E=" + exitLayer + ", stages=" + plan.stageCount() + " " + plan + ")";
        };
    }

    /** The theoretical speedup for an acceptance rate, as text. */
    public String theory(double alpha) {
        return switch (strategy) {
            case AR -> "1.00x";
            case EESD -> String.format(Locale.ROOT, "S_EESD(α, γ=%d) = %.2fx", draftLength, SpeedupTheory.eesd(alpha, draftLength, numLayers, exitLayer));
            case PPSD -> String.format(Locale.ROOT, "ρ*(α) = %.2fx", SpeedupTheory.ppsd(alpha, numLayers, exitLayer));
        };
    }

    @Override
    public void close() {
        if (pipeline != null) pipeline.close();
        stages.forEach(StageExecutor::close);
        coreGroups.forEach(CoreGroup::close);
    }
}
