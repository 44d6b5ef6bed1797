package io.ppsd.cuda;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.Locale;

/** The {@code ppsd.cuda} section of the configuration (defaults in this module's reference.conf). */
public record CudaSettings(int device, int maxBatch, KernelSource kernels, boolean profile, double kvCacheFraction, KvDtype kvDtype, boolean graphs) {

    /** The default share of device memory for KV caches (what the weights and scratch leave). */
    public static final double DEFAULT_KV_CACHE_FRACTION = 0.9;

    public CudaSettings {
        if (device < 0) throw new IllegalArgumentException("ppsd.cuda.device must be >= 0, got " + device);
        if (maxBatch < 1) throw new IllegalArgumentException("ppsd.cuda.max-batch must be >= 1, got " + maxBatch);
        if (kvDtype == null) throw new IllegalArgumentException("ppsd.cuda.kv-cache-dtype must be bf16 or f32");
        if (!(kvCacheFraction > 0 && kvCacheFraction <= 1)) {
            throw new IllegalArgumentException("ppsd.cuda.kv-cache-fraction must be in (0, 1], got " + kvCacheFraction);
        }
    }

    public CudaSettings(int device, int maxBatch, KernelSource kernels, boolean profile) {
        this(device, maxBatch, kernels, profile, DEFAULT_KV_CACHE_FRACTION, KvDtype.BF16, true);
    }

    /** The same settings with cached keys and values stored as {@code dtype}. */
    public CudaSettings withKvDtype(KvDtype dtype) {
        return new CudaSettings(device, maxBatch, kernels, profile, kvCacheFraction, dtype, graphs);
    }

    /** The same settings with the greedy step's CUDA graph on or off. */
    public CudaSettings withGraphs(boolean on) {
        return new CudaSettings(device, maxBatch, kernels, profile, kvCacheFraction, kvDtype, on);
    }

    public static CudaSettings load() {
        return from(ConfigFactory.load());
    }

    public static CudaSettings from(Config root) {
        Config c = root.getConfig("ppsd.cuda");
        String kernels = c.getString("kernels").toUpperCase(Locale.ROOT);
        KernelSource source;
        try {
            source = KernelSource.valueOf(kernels);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("ppsd.cuda.kernels must be auto, ptx or nvrtc, got '" + c.getString("kernels") + "'");
        }
        return new CudaSettings(c.getInt("device"), c.getInt("max-batch"), source, c.getBoolean("profile"), c.getDouble("kv-cache-fraction"),
                KvDtype.parse(c.getString("kv-cache-dtype")), c.getBoolean("graphs"));
    }

    /** The same settings for another device (the launcher assigns devices to stages). */
    public CudaSettings onDevice(int ordinal) {
        return new CudaSettings(ordinal, maxBatch, kernels, profile, kvCacheFraction, kvDtype, graphs);
    }
}
