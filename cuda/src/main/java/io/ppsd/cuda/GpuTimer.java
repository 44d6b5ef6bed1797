package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.CU_EVENT_DEFAULT;
import static org.bytedeco.cuda.global.cudart.cuEventCreate;
import static org.bytedeco.cuda.global.cudart.cuEventDestroy;
import static org.bytedeco.cuda.global.cudart.cuEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cuEventRecord;
import static org.bytedeco.cuda.global.cudart.cuEventSynchronize;

import org.bytedeco.cuda.cudart.CUevent_st;

/** Device time of a span of work on a stage's stream, measured with a pair of CUDA events. */
final class GpuTimer implements AutoCloseable {
    private final CudaDevice device;
    private final CUevent_st start = new CUevent_st();
    private final CUevent_st stop = new CUevent_st();
    private final float[] millis = new float[1];

    GpuTimer(CudaDevice device) {
        this.device = device;
        check(cuEventCreate(start, CU_EVENT_DEFAULT), "cuEventCreate");
        check(cuEventCreate(stop, CU_EVENT_DEFAULT), "cuEventCreate");
    }

    void start() {
        check(cuEventRecord(start, device.stream()), "cuEventRecord");
    }

    /** Milliseconds since {@link #start()} on the device's timeline; waits for the work to finish. */
    float stop() {
        check(cuEventRecord(stop, device.stream()), "cuEventRecord");
        check(cuEventSynchronize(stop), "cuEventSynchronize");
        check(cuEventElapsedTime(millis, start, stop), "cuEventElapsedTime");
        return millis[0];
    }

    @Override
    public void close() {
        check(cuEventDestroy(start), "cuEventDestroy");
        check(cuEventDestroy(stop), "cuEventDestroy");
    }
}
