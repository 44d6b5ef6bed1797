package io.ppsd.cuda;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;

/**
 * An early-exit head on the device, as the CPU backend's: {@code norm} = the model's final norm +
 * LM head; {@code linear} = own norm + own projection; {@code transformer} = own decoder layer (its
 * KV cache is kept by the stage, beside the layers'), own norm, then the model's LM head.
 */
final class CudaExitHead {
    private final CudaForward forward;
    private final DeviceBuffer norm;
    private final DeviceMatrix projection;
    private final DeviceLayer layer;

    /** {@code modelNorm} and {@code modelHead}: the model's final norm and LM head, already uploaded (null for a linear head). */
    CudaExitHead(ExitHeadFile file, ModelConfig config, CudaForward forward, DeviceWeights weights,
                 DeviceBuffer modelNorm, DeviceMatrix modelHead) {
        this.forward = forward;
        switch (file.kind()) {
            case NORM -> {
                norm = modelNorm;
                projection = modelHead;
                layer = null;
            }
            case LINEAR -> {
                norm = weights.vector(file.tensor("norm.weight"));
                projection = weights.matrix(file.tensor("proj.weight"));
                layer = null;
            }
            case TRANSFORMER -> {
                norm = weights.vector(file.tensor("norm.weight"));
                projection = modelHead;
                layer = DeviceLayer.upload(n -> file.tensor("layer." + n), config, weights);
            }
            default -> throw new IllegalStateException("unknown exit head kind " + file.kind());
        }
    }

    boolean hasLayer() {
        return layer != null;
    }

    /** Norm and projection of row {@code row} of {@code hidden}. */
    void project(float[] hidden, int row, float[] logits) {
        forward.upload(hidden, row, 1);
        forward.logits(norm, projection, 0, 1);
        forward.downloadLogits(logits, 0, 1);
    }

    /** The head's layer over a chunk of rows on the device (the host rows stay as they are); logits of the last row when asked. */
    void layer(DeviceKvCache cache, int startPos, int rows, float[] hidden, int row0, boolean withLogits, float[] logits) {
        forward.upload(hidden, row0, rows);
        forward.layer(layer, cache, 0, startPos, rows);
        if (withLogits) {
            forward.logits(norm, projection, rows - 1, 1);
            forward.downloadLogits(logits, 0, 1);
        }
    }
}
