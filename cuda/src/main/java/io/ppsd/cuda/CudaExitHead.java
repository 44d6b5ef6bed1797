package io.ppsd.cuda;

import io.ppsd.runtime.heads.DraftVocabulary;
import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;

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
        this.reduced = vocabulary == null ? null : new float[vocabulary.size()];
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

    /** Norm and projection of row {@code row} of {@code hidden}. */
    void project(float[] hidden, int row, float[] logits) {
        forward.upload(hidden, row, 1);
        forward.logits(norm, projection, 0, 1);
        download(logits);
    }

    /** The head's layer over a chunk of rows on the device (the host rows stay as they are); logits of the last row when asked. */
    void layer(DeviceKvCache cache, int startPos, int rows, float[] hidden, int row0, boolean withLogits, float[] logits) {
        forward.bind(cache, startPos, rows);
        forward.upload(hidden, row0, rows);
        forward.layer(layer, 0, rows);
        if (withLogits) {
            forward.logits(norm, projection, rows - 1, 1);
            download(logits);
        }
    }

    private void download(float[] logits) {
        if (vocabulary == null) {
            forward.downloadLogits(logits, 0, 1);
        } else {
            forward.downloadLogitsRow(reduced, reduced.length);
            vocabulary.scatter(reduced, logits, 0, vocab);
        }
    }
}
