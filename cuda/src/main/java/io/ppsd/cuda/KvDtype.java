package io.ppsd.cuda;

import java.util.Locale;

/**
 * How a CUDA stage stores cached keys and values ({@code ppsd.cuda.kv-cache-dtype}). BF16 halves
 * the bytes attention reads per position, which is what decode at long context is bound by;
 * attention still accumulates in F32. F32 keeps the cache bit-exact with the CPU backend's.
 */
public enum KvDtype {
    F32(4),
    BF16(2);

    final int bytes;

    KvDtype(int bytes) {
        this.bytes = bytes;
    }

    static KvDtype parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("ppsd.cuda.kv-cache-dtype must be bf16 or f32, got '" + name + "'");
        }
    }
}
