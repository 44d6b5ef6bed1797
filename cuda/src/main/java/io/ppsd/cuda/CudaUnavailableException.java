package io.ppsd.cuda;

/**
 * The CUDA backend cannot run on this machine (no driver, no device, no such device ordinal, no
 * kernels). The message names what is missing; the CPU backend is unaffected.
 */
public final class CudaUnavailableException extends RuntimeException {
    public CudaUnavailableException(String reason) {
        super("CUDA backend unavailable: " + reason);
    }

    public CudaUnavailableException(String reason, Throwable cause) {
        super("CUDA backend unavailable: " + reason, cause);
    }
}
