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
import io.ppsd.runtime.pipespec.ModelLevel;
import io.ppsd.runtime.pipespec.PipeSpecDecoder;
import io.ppsd.runtime.pipespec.PpsdTarget;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.pipespec.WindowPolicy;
import io.ppsd.runtime.ppsd.InProcessPipeline;
import io.ppsd.runtime.speculative.DecodingPlan;
import io.ppsd.runtime.speculative.EesdDecoder;
import io.ppsd.runtime.stage.StageExecutor;
import io.ppsd.runtime.stage.StageSpec;
import java.nio.file.Path;
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
    private final List<ModelFiles> opened = new ArrayList<>();
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
                int drafts = plan.draftModels().size();
                int perStage = Math.max(1, (cores - drafts) / plan.stageCount());
                List<StageExecutor> target = plan.stages().open(plan.head(), spec -> new CpuStageExecutor(files, spec, perStage, progress));
                stages.addAll(target);
                if (plan.ppsdTarget()) {
                    var window = window(plan);
                    decoder = PpsdTarget.inProcess(target, openDrafts(plan, progress), window, PipeSpecDecoder.defaultLead(window), 0,
                            PpsdTarget.WAITS_BY_DEFAULT, CpuStageExecutor.DEFAULT_MAX_BATCH, DraftWindow.defaultFor(plan.stageCount()),
                            InProcessPipeline.Chaos.NONE);
                } else {
                    decoder = new InProcessPipeline(target, CpuStageExecutor.DEFAULT_MAX_BATCH, InProcessPipeline.Chaos.NONE);
                }
            }
            case PIPESPEC -> {
                // One thread per level; the target gets the cores the drafts leave (each draft one).
                List<ModelLevel> levels = openDrafts(plan, progress);
                int drafts = levels.size();
                var target = new CpuStageExecutor(files, plan.specs().getFirst(), Math.max(1, cores - drafts), progress);
                stages.add(target);
                levels.add(new ModelLevel("target", List.of(target)));
                var window = window(plan);
                decoder = new PipeSpecDecoder(levels, window, PipeSpecDecoder.defaultLead(window), InProcessPipeline.Chaos.NONE);
            }
            default -> throw new IllegalStateException("unknown strategy " + plan.strategy());
        }
    }

    /** The draft models of the plan, smallest first, each on one core of its own. */
    private List<ModelLevel> openDrafts(DecodingPlan plan, LoadProgress progress) {
        List<ModelLevel> levels = new ArrayList<>();
        for (Path dir : plan.draftModels()) {
            var draftFiles = ModelFiles.open(dir);
            draftFiles.config(); // fail here, with the file's own message, when the config is bad
            opened.add(draftFiles);
            var stage = new CpuStageExecutor(draftFiles, StageSpec.whole(draftFiles.config().numLayers()), 1, progress);
            stages.add(stage);
            levels.add(new ModelLevel(dir.getFileName().toString(), List.of(stage)));
        }
        return levels;
    }

    private static WindowPolicy window(DecodingPlan plan) {
        return plan.adaptiveDraft() ? WindowPolicy.adaptive(plan.draftLength()) : WindowPolicy.fixed(plan.draftLength());
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
        var s = plan.strategy();
        return plan.describe() + (s == DecodingPlan.Strategy.PPSD || s == DecodingPlan.Strategy.PIPESPEC ? " over threads" : "");
    }

    @Override
    public void close() {
        decoder.close();
        stages.forEach(StageExecutor::close);
        coreGroups.forEach(CoreGroup::close);
        opened.forEach(ModelFiles::close);
    }
}
