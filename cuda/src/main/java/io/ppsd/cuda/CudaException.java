package io.ppsd.cuda;

/** A CUDA driver call failed; carries the driver's result code and name. */
public final class CudaException extends RuntimeException {
    private final int result;

    public CudaException(String call, int result, String resultName) {
        super(call + " failed: " + resultName + " (" + result + ")");
        this.result = result;
    }

    public int result() {
        return result;
    }
}
