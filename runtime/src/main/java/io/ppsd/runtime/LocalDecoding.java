package io.ppsd.runtime;

import io.ppsd.runtime.cpu.CoreGroup;
import io.ppsd.runtime.cpu.CpuStageExecutor;
import io.ppsd.runtime.decode.AutoregressiveDecoder;
import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.model.LoadProgress;
import io.ppsd.runtime.model.ModelFiles;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.speculative.DecodingPlan;
import io.ppsd.runtime.speculative.EesdDecoder;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link DecodingPlan} set up on this machine's CPU cores: autoregressive decoding and EESD (one
 * thread of control) compute every stage on all cores; a PPSD pipeline gives each of its stages a
 * thread and a share of the cores (the in-process pipeline). The actor pipeline builds the same
 * plan's stages, spread over a cluster.
 */
public final class LocalDecoding implements Decoder {
    private final DecodingPlan plan;
    private final List<StageExecutor> stages = new ArrayList<>();
    private final List<CoreGroup> coreGroups = new ArrayList<>();
    private final Decoder decoder;

    public LocalDecoding(ModelFiles files, DecodingPlan plan, int cores, LoadProgress progress) {
        this.plan = plan;
        switch (plan.strategy()) {
            case AR -> {
                var whole = new CpuStageExecutor(files, plan.specs().getFirst(), cores, progress);
                stages.add(whole);
                decoder = new AutoregressiveDecoder(whole);
            }
            case EESD -> {
                var group = new CoreGroup(cores, "eesd");
                coreGroups.add(group);
                stages.addAll(plan.stages().open(plan.head(),
                        spec -> new CpuStageExecutor(files, spec, group, false, CpuStageExecutor.DEFAULT_MAX_BATCH, progress)));
                decoder = new EesdDecoder(stages, plan.draftLength(), plan.adaptiveDraft());
            }
            case PPSD -> {
                int perStage = Math.max(1, cores / plan.stageCount());
                stages.addAll(plan.stages().open(plan.head(), spec -> new CpuStageExecutor(files, spec, perStage, progress)));
                decoder = new InProcessPipeline(stages, CpuStageExecutor.DEFAULT_MAX_BATCH, InProcessPipeline.Chaos.NONE);
            }
            default -> throw new IllegalStateException("unknown strategy " + plan.strategy());
        }
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        return decoder.generate(request, listener);
    }

    public DecodingPlan plan() {
        return plan;
    }

    @Override
    public String describe() {
        return plan.describe() + (plan.strategy() == DecodingPlan.Strategy.PPSD ? " over threads" : "");
    }

    @Override
    public void close() {
        decoder.close();
        stages.forEach(StageExecutor::close);
        coreGroups.forEach(CoreGroup::close);
    }
}
