package io.ppsd.cuda;

import io.ppsd.runtime.heads.ExitHeadFile;
import io.ppsd.runtime.model.ModelConfig;
import java.util.HashMap;
import java.util.Map;

/**
 * An early-exit head on the device, as the CPU backend's: {@code norm} = the model's final norm +
 * LM head; {@code linear} = own norm + own projection; {@code transformer} = own decoder layer with
 * its own KV cache, own norm, then the model's LM head.
 */
final class CudaExitHead implements AutoCloseable {
    private final CudaDevice device;
    private final CudaForward forward;
    private final ModelConfig config;
    private final DeviceBuffer norm;
    private final DeviceMatrix projection;
    private final DeviceLayer layer;
    private final Map<Long, DeviceKvCache> caches = new HashMap<>();

    /** {@code modelNorm} and {@code modelHead}: the model's final norm and LM head, already uploaded (null for a linear head). */
    CudaExitHead(ExitHeadFile file, ModelConfig config, CudaDevice device, CudaForward forward, DeviceWeights weights,
                 DeviceBuffer modelNorm, DeviceMatrix modelHead) {
        this.device = device;
        this.forward = forward;
        this.config = config;
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
                layer = DeviceLayer.upload(n -> file.tensor("layer." + n), weights);
            }
            default -> throw new IllegalStateException("unknown exit head kind " + file.kind());
        }
    }

    void draft(long seq, int startPos, int rows, float[] hidden, float[] logits) {
        if (layer == null) {
            forward.upload(hidden, rows - 1, 1);
            forward.logits(norm, projection, 0, 1);
            forward.downloadLogits(logits, 0, 1);
            return;
        }
        DeviceKvCache cache = caches.computeIfAbsent(seq, s -> new DeviceKvCache(device, 1, config.kvDim(), config.maxPositions()));
        if (cache.length() != startPos) {
            throw new IllegalStateException("exit head cache of sequence " + seq + " has " + cache.length()
                    + " positions but the draft starts at " + startPos);
        }
        cache.reserve(startPos + rows);
        int chunk = forward.maxBatch();
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int m = Math.min(chunk, rows - r0);
            forward.upload(hidden, r0, m);
            forward.layer(layer, cache, 0, startPos + r0, m);
            cache.setLength(startPos + r0 + m);
            if (r0 + m == rows) {
                forward.logits(norm, projection, m - 1, 1);
                forward.downloadLogits(logits, 0, 1);
            }
        }
    }

    void truncate(long seq, int length) {
        DeviceKvCache c = caches.get(seq);
        if (c != null) c.truncate(Math.min(length, c.length()));
    }

    void release(long seq) {
        DeviceKvCache c = caches.remove(seq);
        if (c != null) c.close();
    }

    @Override
    public void close() {
        for (DeviceKvCache c : caches.values()) c.close();
        caches.clear();
    }
}
