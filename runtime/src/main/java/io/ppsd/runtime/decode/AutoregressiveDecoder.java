package io.ppsd.runtime.decode;

import io.ppsd.runtime.stage.StageExecutor;

/**
 * Plain autoregressive decoding on one stage that holds the whole model: the reference every
 * speculative strategy must reproduce token for token under greedy sampling.
 */
public final class AutoregressiveDecoder implements Decoder {
    private final StageExecutor model;
    private final java.util.concurrent.atomic.AtomicLong nextSeq = new java.util.concurrent.atomic.AtomicLong(1);
    private final float[] hidden;
    private final float[] logits;
    private final int[] token = new int[1];

    public AutoregressiveDecoder(StageExecutor model) {
        var spec = model.spec();
        if (!spec.embedding() || !spec.lmHead() || spec.layers().from() != 0 || spec.layers().to() != model.config().numLayers()) {
            throw new IllegalArgumentException("autoregressive decoding needs a stage with the whole model, got " + spec);
        }
        this.model = model;
        this.hidden = new float[model.config().hiddenSize()];
        this.logits = new float[model.config().vocabSize()];
    }

    /** Generates on the whole-model stage; one generation at a time (the stage is single-threaded). */
    @Override
    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        long seq = nextSeq.getAndIncrement();
        var c = model.config();
        request.validate(c.vocabSize(), c.maxPositions());
        int[] prompt = request.prompt();
        var out = new OutputTracker(request, listener, c.maxPositions());
        var sampler = new Sampler(request.sampling(), c.vocabSize());
        // Greedy without a repetition penalty, and plain temperature sampling, need no logits on the
        // host: a device decodes where its weights are (the uniform numbers still come from the sampler).
        SamplingParams p = request.sampling();
        boolean greedy = p.isGreedy() && p.repetitionPenalty() == 1f;
        DeviceStep onDevice = model instanceof DeviceStep d && d.canStepOnDevice() && (greedy || DeviceStep.samplesOnDevice(p)) ? d : null;
        model.release(seq);
        try {
            long t0 = System.nanoTime();
            float[] promptHidden = new float[prompt.length * c.hiddenSize()];
            model.embed(prompt, 0, prompt.length, promptHidden);
            model.forward(seq, 0, prompt.length, promptHidden);
            System.arraycopy(promptHidden, (prompt.length - 1) * c.hiddenSize(), hidden, 0, c.hiddenSize());
            model.logits(hidden, 1, logits);
            int next = sampler.sample(logits, 0, out.history(), out.length());
            long t1 = System.nanoTime();
            boolean more = !out.stopped() && out.commit(next);
            while (more) {
                if (onDevice != null) {
                    next = greedy ? onDevice.greedyStep(seq, out.length() - 1, next)
                            : onDevice.sampledStep(seq, out.length() - 1, next, p.temperature(), sampler.uniform());
                } else {
                    token[0] = next;
                    model.embed(token, 0, 1, hidden);
                    model.forward(seq, out.length() - 1, 1, hidden);
                    model.logits(hidden, 1, logits);
                    next = sampler.sample(logits, 0, out.history(), out.length());
                }
                more = out.commit(next);
            }
            long t2 = System.nanoTime();
            int n = out.generatedCount();
            return new GenerationResult(prompt, out.generated(), out.stopReason(),
                    new Timings(prompt.length, t1 - t0, n, t2 - t1),
                    new SpeculationStats(0, 0, n, n, 0));
        } finally {
            model.release(seq);
        }
    }

    @Override
    public String describe() {
        return "ar";
    }
}
