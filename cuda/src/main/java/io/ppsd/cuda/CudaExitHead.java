package io.ppsd.cuda;

import io.ppsd.runtime.heads.DraftVocabulary;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import io.ppsd.runtime.stage.LayerStackExecutor;

/**
 * An early-exit head on the device, as the CPU backend's: {@code norm} = the model's final norm +
 * LM head; {@code linear} = own norm + own projection; {@code transformer} = own decoder layer (its
 * KV cache is kept by the stage, beside the layers'), own norm, then the model's LM head. With a
 * reduced draft vocabulary the projection on the device holds only that vocabulary's rows, and
 * its logits are spread over the full row on the host.
 */
final class CudaExitHead {
    private final CudaForward forward;
    private final DeviceBuffer norm;
    private final DeviceMatrix projection;
    private final DeviceLayer layer;
    private final DraftVocabulary vocabulary;
    private final float[] reduced;
    private final int vocab;
    private io.ppsd.runtime.model.Tensor gathered;

    /** {@code modelNorm} and {@code modelHead}: the model's final norm and LM head, already uploaded (null for a linear head). */
    CudaExitHead(ExitHeadFile file, ModelConfig config, CudaForward forward, DeviceWeights weights,
                 DeviceBuffer modelNorm, DeviceMatrix modelHead, io.ppsd.runtime.model.Tensor modelHeadTensor) {
        this.forward = forward;
        this.vocabulary = file.vocabulary();
        this.vocab = config.vocabSize();
        this.reduced = vocabulary == null ? null : new float[forward.maxBatch() * vocabulary.size()];
        switch (file.kind()) {
            case NORM -> {
                norm = modelNorm;
                projection = reduced(modelHead, modelHeadTensor, weights);
                layer = null;
            }
            case LINEAR -> {
                norm = weights.vector(file.tensor("norm.weight"));
                projection = vocabulary == null ? weights.matrix(file.tensor("proj.weight")) : reduced(null, file.tensor("proj.weight"), weights);
                layer = null;
            }
            case TRANSFORMER -> {
                norm = weights.vector(file.tensor("norm.weight"));
                projection = reduced(modelHead, modelHeadTensor, weights);
                layer = DeviceLayer.upload(n -> file.tensor("layer." + n), config, weights);
            }
            default -> throw new IllegalStateException("unknown exit head kind " + file.kind());
        }
    }

    /** The projection to draft with: {@code full} as it is, or its draft vocabulary's rows gathered on the host and uploaded. */
    private DeviceMatrix reduced(DeviceMatrix full, io.ppsd.runtime.model.Tensor host, DeviceWeights weights) {
        if (vocabulary == null) return full;
        // Kept referenced while the head lives: DeviceWeights remembers uploads by host address.
        gathered = host.gatherRows(vocabulary.tokenIds(), java.lang.foreign.Arena.ofAuto());
        return weights.matrix(gathered);
    }

    boolean hasLayer() {
        return layer != null;
    }

    /** The head's layer over one compute call's rows on the device, its output rows to {@code out} (the host rows stay as they are). */
    void layer(LayerStackExecutor.Segments<DeviceKvCache> segments, float[] hidden, int row0, float[] out) {
        int n = segments.totalRows();
        forward.bind(segments);
        forward.upload(hidden, row0, n);
        forward.layer(layer, 0, n);
        forward.download(out, 0, n);
    }

    /** Whether the projection covers the whole vocabulary (a reduced head's ids are mapped to the vocabulary's on the host). */
    boolean fullVocabulary() {
        return vocabulary == null;
    }

    /** Greedy drafts of rows [row0, row0 + n) of {@code rows}: the projection and the argmax on the device, n ids back. */
    void argmax(float[] rows, int row0, int n, int[] tokens, int outRow) {
        forward.upload(rows, row0, n);
        argmaxOfDeviceRows(0, n, tokens, outRow);
    }

    /** Greedy drafts of the device rows [row0, row0 + n) (a stage-0 call's, where its layers left them): n ids back. */
    void argmaxOfDeviceRows(int row0, int n, int[] tokens, int outRow) {
        forward.logits(norm, projection, row0, n);
        forward.argmaxLogits(n, tokens, outRow);
    }

    /**
     * The head's layer over the device rows, in place (a stage-0 call queues its output rows back
     * first), bound to the head caches of {@code segments}: only the row table goes in.
     */
    void layerOnDeviceRows(LayerStackExecutor.Segments<DeviceKvCache> segments) {
        forward.bind(segments);
        forward.uploadHeader();
        forward.layer(layer, 0, segments.totalRows());
    }

    /**
     * Norm and projection of rows [row0, row0 + n) of {@code rows} (n ≤ maxBatch) in one launch
     * (the projection read once for all): full-vocabulary logits to rows [outRow, outRow + n).
     */
    void logits(float[] rows, int row0, int n, float[] logits, int outRow) {
        forward.upload(rows, row0, n);
        forward.logits(norm, projection, 0, n);
        if (vocabulary == null) {
            forward.downloadLogits(logits, outRow, n, vocab);
        } else {
            forward.downloadLogits(reduced, 0, n, vocabulary.size());
            for (int t = 0; t < n; t++) vocabulary.scatter(reduced, t * vocabulary.size(), logits, (outRow + t) * vocab, vocab);
        }
    }
}
