package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoD;

import io.ppsd.runtime.cpu.Matrix;
import io.ppsd.runtime.model.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The weights a stage uploaded to its device, each once: matrices straight from the memory-mapped
 * file in their stored dtype, norm weights widened to F32 (they are tiny and read by every row).
 * A tensor that two roles share (tied embeddings and LM head, the LM head of the model and of an
 * exit head) is uploaded once. Freed together when the stage closes.
 */
final class DeviceWeights implements AutoCloseable {
    private final CudaDevice device;
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private final Map<Long, DeviceMatrix> byHostAddress = new HashMap<>();
    private long bytes;

    DeviceWeights(CudaDevice device) {
        this.device = device;
    }

    DeviceMatrix matrix(Tensor t) {
        if (t.shape().length != 2) throw new IllegalArgumentException("tensor " + t.name() + " is not a matrix: " + t.shapeString());
        DeviceMatrix known = byHostAddress.get(t.data().address());
        if (known != null && known.dtype() == t.dtype() && known.rows() == t.rows() && known.cols() == t.cols()) return known;
        DeviceBuffer b = track(device.allocate(t.data().byteSize()));
        check(cuMemcpyHtoD(b.address(), new HostAddress(t.data()), t.data().byteSize()), "cuMemcpyHtoD(" + t.name() + ")");
        DeviceMatrix m = new DeviceMatrix(b, t.dtype(), t.rows(), t.cols());
        byHostAddress.put(t.data().address(), m);
        return m;
    }

    DeviceBuffer vector(Tensor t) {
        return floats(Matrix.vector(t));
    }

    DeviceBuffer floats(float[] values) {
        DeviceBuffer b = track(device.allocate((long) values.length * Float.BYTES));
        try (FloatPointer host = new FloatPointer(values)) {
            check(cuMemcpyHtoD(b.address(), host, b.bytes()), "cuMemcpyHtoD");
        }
        return b;
    }

    long bytes() {
        return bytes;
    }

    private DeviceBuffer track(DeviceBuffer b) {
        buffers.add(b);
        bytes += b.bytes();
        return b;
    }

    @Override
    public void close() {
        for (DeviceBuffer b : buffers) b.close();
        buffers.clear();
        byHostAddress.clear();
    }
}
