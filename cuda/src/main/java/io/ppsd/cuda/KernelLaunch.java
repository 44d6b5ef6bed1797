package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.CU_LAUNCH_PARAM_BUFFER_POINTER_AS_INT;
import static org.bytedeco.cuda.global.cudart.CU_LAUNCH_PARAM_BUFFER_SIZE_AS_INT;
import static org.bytedeco.cuda.global.cudart.CU_LAUNCH_PARAM_END_AS_INT;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * Packs kernel arguments and launches, without allocating: arguments are written at their natural
 * alignment into one native buffer handed to the driver with {@code CU_LAUNCH_PARAM_BUFFER_POINTER}
 * and its size with {@code CU_LAUNCH_PARAM_BUFFER_SIZE} (the driver can check the size; the
 * emulator does). Each argument is checked against the kernel's declared parameters, so a missing,
 * extra or mistyped argument fails here with the kernel's name.
 *
 * <pre>launch.of(Kernel.RMSNORM).ptr(out).ptr(x).ptr(weight).i(dim).f(eps).run(rows, 1, 256);</pre>
 * One instance per stage; not thread-safe.
 */
final class KernelLaunch implements AutoCloseable {
    private static final int MAX_BYTES = 256;

    private final KernelModules modules;
    private final CudaDevice device;
    private final BytePointer buffer = new BytePointer(MAX_BYTES);
    private final SizeTPointer size = new SizeTPointer(1);
    private final LongPointer extraEntries = new LongPointer(5);
    // The same memory typed as void**: JavaCPP passes a PointerPointer as is, whereas a plain
    // Pointer argument for a void** parameter would be passed by address (one more indirection).
    private final PointerPointer<Pointer> extra = new PointerPointer<>(extraEntries);
    private Kernel kernel;
    private int index;
    private int offset;

    KernelLaunch(KernelModules modules, CudaDevice device) {
        this.modules = modules;
        this.device = device;
        extraEntries.put(0, CU_LAUNCH_PARAM_BUFFER_POINTER_AS_INT);
        extraEntries.put(1, buffer.address());
        extraEntries.put(2, CU_LAUNCH_PARAM_BUFFER_SIZE_AS_INT);
        extraEntries.put(3, size.address());
        extraEntries.put(4, CU_LAUNCH_PARAM_END_AS_INT);
    }

    KernelLaunch of(Kernel k) {
        kernel = k;
        index = 0;
        offset = 0;
        return this;
    }

    KernelLaunch ptr(long deviceAddress) {
        next('p', 8);
        buffer.putLong(offset, deviceAddress);
        offset += 8;
        return this;
    }

    KernelLaunch ptr(DeviceBuffer b) {
        return ptr(b.address());
    }

    KernelLaunch i(int value) {
        next('i', 4);
        buffer.putInt(offset, value);
        offset += 4;
        return this;
    }

    KernelLaunch f(float value) {
        next('f', 4);
        buffer.putFloat(offset, value);
        offset += 4;
        return this;
    }

    /** Launches on the device's stream: a 2-D grid of 1-D blocks (all our kernels use that shape). */
    void run(int gridX, int gridY, int blockX) {
        if (index != kernel.parameters.length()) {
            throw new IllegalStateException("kernel " + kernel.symbol + " takes " + kernel.parameters.length() + " arguments ("
                    + kernel.parameters + "), " + index + " given");
        }
        if (gridX <= 0 || gridY <= 0 || blockX <= 0) {
            throw new IllegalArgumentException("kernel " + kernel.symbol + ": empty launch " + gridX + "x" + gridY + " blocks of " + blockX);
        }
        size.put(0, offset);
        check(cuLaunchKernel(modules.function(kernel), gridX, gridY, 1, blockX, 1, 1, 0, device.stream(), (PointerPointer<?>) null, extra),
                "cuLaunchKernel(" + kernel.symbol + ")");
        kernel = null;
    }

    private void next(char type, int align) {
        if (kernel == null) throw new IllegalStateException("no kernel chosen (call of() first)");
        if (index >= kernel.parameters.length()) {
            throw new IllegalStateException("kernel " + kernel.symbol + " takes " + kernel.parameters.length() + " arguments ("
                    + kernel.parameters + "), more given");
        }
        char expected = kernel.parameters.charAt(index);
        if (expected != type) {
            throw new IllegalStateException("kernel " + kernel.symbol + " argument " + index + " must be '" + expected + "' (of "
                    + kernel.parameters + "), got '" + type + "'");
        }
        offset = (offset + align - 1) / align * align;
        index++;
    }

    @Override
    public void close() {
        buffer.close();
        size.close();
        extraEntries.close();
    }
}
