package io.ppsd.runtime.simulated;

import com.typesafe.config.Config;
import io.ppsd.runtime.heads.ExitHeadKind;
import java.time.Duration;

/**
 * How long a device takes for the work of one stage call, modelled from weight bytes: decoding is
 * memory-bound, so a block of P parameters costs {@code max(P · bytesPerParameter / memoryBandwidth,
 * 2 · P · rows / compute)} (reading the weights once serves every row until the arithmetic catches
 * up), plus a fixed {@code callOverhead} per call (kernel launches, synchronisation).
 *
 * <p>The parameters describe the layers of the model being imitated (e.g. LLaMA-2-13B), not of the
 * model actually computed: a simulated stage of E small layers takes as long as E 13B layers would.
 */
public record DeviceProfile(
        String name,
        String description,
        long layerParameters,
        long lmHeadParameters,
        double bytesPerParameter,
        double memoryBandwidth,
        double compute,
        Duration callOverhead) {

    public DeviceProfile {
        if (layerParameters <= 0 || lmHeadParameters <= 0) throw new IllegalArgumentException(name + ": parameter counts must be > 0");
        if (!(bytesPerParameter > 0) || !(memoryBandwidth > 0) || !(compute > 0)) {
            throw new IllegalArgumentException(name + ": bytes-per-parameter, memory-bandwidth and compute must be > 0");
        }
        if (callOverhead.isNegative()) throw new IllegalArgumentException(name + ": call-overhead must be ≥ 0");
    }

    /** Reads one profile, e.g. the block {@code ppsd.device-profiles.A100-13B}. */
    public static DeviceProfile fromConfig(String name, Config c) {
        return new DeviceProfile(name,
                c.hasPath("description") ? c.getString("description") : name,
                c.getLong("layer-parameters"),
                c.getLong("lm-head-parameters"),
                c.getDouble("bytes-per-parameter"),
                c.getDouble("memory-bandwidth"),
                c.getDouble("compute"),
                c.hasPath("call-overhead") ? c.getDuration("call-overhead") : Duration.ZERO);
    }

    /** Time for {@code rows} positions through a block of {@code parameters} weights. */
    public long blockNanos(long parameters, int rows) {
        double memory = parameters * bytesPerParameter / memoryBandwidth;
        double arithmetic = 2.0 * parameters * Math.max(1, rows) / compute;
        return Math.round(Math.max(memory, arithmetic) * 1e9);
    }

    /** One decoder layer for {@code rows} positions (no call overhead). */
    public long layerNanos(int rows) {
        return blockNanos(layerParameters, rows);
    }

    /** A call running {@code layers} decoder layers over {@code rows} positions. */
    public long forwardNanos(int layers, int rows) {
        return layers == 0 ? 0 : callOverhead.toNanos() + layers * layerNanos(rows);
    }

    /** A call applying the final norm and LM head to {@code rows} positions. */
    public long logitsNanos(int rows) {
        return callOverhead.toNanos() + blockNanos(lmHeadParameters, rows);
    }

    /**
     * A call drafting with an exit head: the head sees {@code rows} positions (a transformer head
     * runs its extra layer over all of them to fill its cache) and projects the last one to the
     * vocabulary (the norm head reuses the LM head; a linear head has a projection of the same size).
     */
    public long draftNanos(ExitHeadKind kind, int rows) {
        return draftNanos(kind, rows, 1);
    }

    /** One call drafting for several sequences: the head's layer over all {@code rows}, {@code projections} rows through the projection. */
    public long draftNanos(ExitHeadKind kind, int rows, int projections) {
        return draftNanos(kind, rows, projections, 1);
    }

    /**
     * The same with a reduced draft vocabulary: the projection reads {@code vocabularyShare} of
     * an LM head's weights (its rows for the draft vocabulary) and computes as many logits.
     */
    public long draftNanos(ExitHeadKind kind, int rows, int projections, double vocabularyShare) {
        long projection = blockNanos(Math.round(lmHeadParameters * vocabularyShare), projections);
        long layer = kind == ExitHeadKind.TRANSFORMER ? layerNanos(rows) : 0;
        return callOverhead.toNanos() + layer + projection;
    }

    /**
     * The same device running {@code factor} times slower: every time multiplied, ratios unchanged.
     * A host with few cores can then keep up with a deep pipeline whose real computation would
     * otherwise take most of the simulated time (speedups stay comparable; tokens/s are divided).
     */
    public DeviceProfile slowedBy(double factor) {
        if (!(factor >= 1)) throw new IllegalArgumentException("slow-motion factor must be ≥ 1, got " + factor);
        if (factor == 1) return this;
        return new DeviceProfile(name, description + ", in slow motion ×" + factor, layerParameters, lmHeadParameters, bytesPerParameter,
                memoryBandwidth / factor, compute / factor, Duration.ofNanos(Math.round(callOverhead.toNanos() * factor)));
    }

    /**
     * The same device imitating a model {@code layerRatio} the size per layer and {@code headRatio}
     * the size of LM head (a smaller draft model beside the imitated target: its layers priced at
     * its own share of the target's weights, read at the same bandwidth).
     */
    public DeviceProfile scaled(String suffix, double layerRatio, double headRatio) {
        if (!(layerRatio > 0) || !(headRatio > 0)) throw new IllegalArgumentException("scale ratios must be > 0");
        return new DeviceProfile(name + suffix, description + ", scaled ×" + String.format(java.util.Locale.ROOT, "%.3f", layerRatio) + " per layer",
                Math.max(1, Math.round(layerParameters * layerRatio)), Math.max(1, Math.round(lmHeadParameters * headRatio)), bytesPerParameter,
                memoryBandwidth, compute, callOverhead);
    }

    @Override
    public String toString() {
        return name + " (" + description + ")";
    }
}
