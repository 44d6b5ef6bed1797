package io.ppsd.cuda;

/** Where the kernels' PTX comes from (ppsd.cuda.kernels). */
public enum KernelSource {
    /** Packaged PTX when the build had nvcc, else NVRTC at run time. */
    AUTO,
    /** Packaged PTX only. */
    PTX,
    /** NVRTC at run time from the packaged sources. */
    NVRTC
}
