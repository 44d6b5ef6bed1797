package io.ppsd.cuda;

import io.ppsd.runtime.model.DType;

/**
 * The kernels of {@code src/main/cuda}: entry point name, the module (.cu file) that holds it, and
 * its parameters as the launcher must pack them: {@code p} a device pointer (8 bytes), {@code i} an
 * {@code int}, {@code f} a {@code float} (4 bytes each). Kept next to the CUDA signatures by hand;
 * the launcher checks every launch against it, and the test emulator checks it again against the
 * host compiler's view of the same source.
 */
enum Kernel {
    EMBED_F32("embed_f32", "embedding", "pppi"),
    EMBED_F16("embed_f16", "embedding", "pppi"),
    EMBED_BF16("embed_bf16", "embedding", "pppi"),
    RMSNORM("rmsnorm", "norm", "pppif"),
    GEMV_F32("gemv_f32", "matmul", "ppppfiiiii"),
    GEMV_F16("gemv_f16", "matmul", "ppppfiiiii"),
    GEMV_BF16("gemv_bf16", "matmul", "ppppfiiiii"),
    GATE_UP_F32("gate_up_f32", "matmul", "pppppfiii"),
    GATE_UP_F16("gate_up_f16", "matmul", "pppppfiii"),
    GATE_UP_BF16("gate_up_bf16", "matmul", "pppppfiii"),
    QKV_F32("qkv_f32", "qkv", "ppppppfppppppiiiiiii"),
    QKV_F16("qkv_f16", "qkv", "ppppppfppppppiiiiiii"),
    QKV_BF16("qkv_bf16", "qkv", "ppppppfppppppiiiiiii"),
    GEMM_F32("gemm_f32", "matmul", "pppiiiii"),
    GEMM_F16("gemm_f16", "matmul", "pppiiiii"),
    GEMM_BF16("gemm_bf16", "matmul", "pppiiiii"),
    GEMM_TC_BF16("gemm_tc_bf16", "tensor", "pppiiiii"),
    ROPE_KV_APPEND("rope_kv_append", "attention", "ppppppiiiii"),
    ATTENTION("attention", "attention", "pppppiiiiiifi"),
    SWIGLU("swiglu", "elementwise", "ppi"),
    RESIDUAL_ADD("residual_add", "elementwise", "ppi"),
    ADD_BIAS("add_bias", "elementwise", "ppii"),
    ARGMAX("argmax", "sampling", "pppi"),
    CHOOSE_TOKEN("choose_token", "sampling", "pppip");

    /** Tokens a GEMV launch handles at most (PPSD_GEMV_MAX_TOKENS in matmul.cu). */
    static final int GEMV_MAX_TOKENS = 8;
    /** Weight rows (or row pairs) per GEMV-family block: one warp each (PPSD_GEMV_WARPS). */
    static final int GEMV_ROWS_PER_BLOCK = 8;
    /** GEMM tile: weight rows x tokens per block, 256 threads (PPSD_TILE_ROWS, PPSD_TILE_TOKENS). */
    static final int GEMM_TILE_ROWS = 64;
    static final int GEMM_TILE_TOKENS = 32;
    /** Tensor-core GEMM (BF16 weights): 16 weight rows per warp, 4 warps per block, 16 tokens per block (tensor.cu). */
    static final int TC_TILE = 16;
    static final int TC_WARPS = 4;
    /** Largest head dimension the attention kernel holds in registers (PPSD_MAX_HEAD_DIM). */
    static final int MAX_HEAD_DIM = 256;
    /** Threads of an attention block (PPSD_ATTN_WARPS warps). */
    static final int ATTENTION_THREADS = 128;
    /** Query heads an attention block serves at most, and their dimensions (PPSD_ATTN_MAX_HEADS, PPSD_ATTN_MAX_DIMS). */
    static final int ATTENTION_MAX_HEADS = 8;
    static final int ATTENTION_MAX_DIMS = 1024;
    /** Positions of an attention tile: a split of the context is a whole number of them. */
    static final int ATTENTION_TILE = 32;
    /** Bytes of a row's PpsdRowSlot (ppsd_device.cuh): cache address, capacity, position. */
    static final int ROW_SLOT_BYTES = 16;

    final String symbol;
    final String module;
    final String parameters;

    Kernel(String symbol, String module, String parameters) {
        this.symbol = symbol;
        this.module = module;
        this.parameters = parameters;
    }

    static Kernel embed(DType t) {
        return forWeights("EMBED", t);
    }

    static Kernel gemv(DType t) {
        return forWeights("GEMV", t);
    }

    static Kernel gateUp(DType t) {
        return forWeights("GATE_UP", t);
    }

    static Kernel qkv(DType t) {
        return forWeights("QKV", t);
    }

    static Kernel gemm(DType t) {
        return forWeights("GEMM", t);
    }

    /** The variant of a kernel family for weights stored as {@code t}: one per weight dtype, named FAMILY_DTYPE. */
    private static Kernel forWeights(String family, DType t) {
        return valueOf(family + "_" + t.name());
    }
}
