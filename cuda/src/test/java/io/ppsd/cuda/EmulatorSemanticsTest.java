package io.ppsd.cuda;

import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_ILLEGAL_ADDRESS;
import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_INVALID_VALUE;
import static org.bytedeco.cuda.global.cudart.CUDA_ERROR_LAUNCH_FAILED;
import static org.bytedeco.cuda.global.cudart.CUDA_SUCCESS;
import static org.bytedeco.cuda.global.cudart.cuLaunchKernel;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoH;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoD;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The emulated driver keeps the CUDA semantics the kernels rely on (block barriers, warp shuffles,
 * shared memory per block) and fails loudly where a GPU would misbehave silently or crash: wrong
 * argument lists, out-of-bounds writes and copies, host pointers passed as device pointers, and
 * barriers in divergent code. Runs the test kernels of src/test/cuda/probe.cu, compiled by nvcc to
 * PTX and by g++ into the emulator.
 */
class EmulatorSemanticsTest {
    private static CudaDevice device;
    private static CUmod_st module;

    @BeforeAll
    static void loadProbes() {
        EmulatedDriver.requireEmulator();
        device = CudaDevice.open(0);
        String ptx = KernelModules.resource("/io/ppsd/cuda/probe/probe.ptx");
        assertTrue(ptx != null, "probe.ptx missing: the test build compiles src/test/cuda with nvcc");
        module = new CUmod_st();
        try (BytePointer image = new BytePointer(ptx, StandardCharsets.UTF_8)) {
            DriverCall.check(cuModuleLoadData(module, image), "cuModuleLoadData(probe)");
        }
    }

    @AfterAll
    static void unload() {
        if (device == null) return;
        device.makeCurrent();
        cuModuleUnload(module);
        device.close();
    }

    @Test
    void blockReductionSeesEveryThreadThroughBarriersAndShuffles() {
        int threads = 256, blocks = 3;
        float[] in = new float[threads * blocks];
        for (int i = 0; i < in.length; i++) in[i] = i % 97 - 40;
        try (DeviceBuffer din = upload(in); DeviceBuffer dout = device.allocate(blocks * 4L)) {
            assertEquals(CUDA_SUCCESS, launch("probe_block_sum", blocks, threads, dout.address(), din.address()));
            float[] out = download(dout, blocks);
            for (int b = 0; b < blocks; b++) {
                float expected = 0;
                for (int i = 0; i < threads; i++) expected += in[b * threads + i];
                assertEquals(expected, out[b], "sum of block " + b);
            }
        }
    }

    @Test
    void shufflesFollowTheCudaDefinition() {
        int n = 64;  // two warps: shuffles never cross a warp
        try (DeviceBuffer out = device.allocate(4L * n * 4)) {
            assertEquals(CUDA_SUCCESS, launch("probe_shuffles", 1, n, out.address(), n));
            int[] got = downloadInts(out, 4 * n);
            int[] expected = new int[4 * n];
            for (int i = 0; i < n; i++) {
                int lane = i % 32, base = i - lane;
                expected[i] = 100 + base + (lane ^ 1);
                expected[n + i] = 100 + base + (lane + 3 < 32 ? lane + 3 : lane);
                expected[2 * n + i] = 100 + base + (lane >= 2 ? lane - 2 : lane);
                expected[3 * n + i] = 100 + base + 5;
            }
            assertArrayEquals(expected, got);
        }
    }

    @Test
    void syncthreadsMakesSharedWritesVisibleToTheWholeBlock() {
        int n = 1024;
        try (DeviceBuffer out = device.allocate(4L * n)) {
            assertEquals(CUDA_SUCCESS, launch("probe_barrier_order", 1, n, out.address()));
            int[] got = downloadInts(out, n);
            for (int i = 0; i < n; i++) assertEquals(((i + 1) % n) * 3, got[i], "thread " + i + " reads its neighbour's write");
        }
    }

    @Test
    void writePastTheEndOfAnAllocationIsReported() {
        try (DeviceBuffer small = device.allocate(12)) {
            assertEquals(CUDA_ERROR_ILLEGAL_ADDRESS, launch("probe_fill", 1, 32, small.address(), 4, 1.0f));
            assertTrue(EmulatedDriver.lastError().contains("write past the end of the device allocation"), EmulatedDriver.lastError());
            assertEquals(CUDA_SUCCESS, launch("probe_fill", 1, 32, small.address(), 3, 1.0f), "in bounds is fine");
        }
    }

    @Test
    void argumentCountMismatchFailsTheLaunch() {
        try (DeviceBuffer out = device.allocate(64)) {
            // kernelParams, null-terminated: one argument short, and one too many.
            assertEquals(CUDA_ERROR_INVALID_VALUE, launch("probe_fill", 1, 32, out.address(), 4));
            assertTrue(EmulatedDriver.lastError().contains("kernelParams has 2 entries, the kernel takes 3"), EmulatedDriver.lastError());
            assertEquals(CUDA_ERROR_INVALID_VALUE, launch("probe_fill", 1, 32, out.address(), 4, 1.0f, 7));
            assertTrue(EmulatedDriver.lastError().contains("more than the kernel's 3 entries"), EmulatedDriver.lastError());
            // A packed parameter buffer (what the backend uses) of the wrong size.
            try (BytePointer packed = new BytePointer(16); LongPointer size = new LongPointer(1); LongPointer entries = new LongPointer(5)) {
                packed.putLong(0, out.address());
                packed.putInt(8, 4);
                size.put(0, 12);  // (ptr, int) but the kernel is (ptr, int, float): 16 bytes
                entries.put(0, 1).put(1, packed.address()).put(2, 2).put(3, size.address()).put(4, 0);
                int r = cuLaunchKernel(function("probe_fill"), 1, 1, 1, 32, 1, 1, 0, device.stream(), (PointerPointer<?>) null,
                        new PointerPointer<Pointer>(entries));
                assertEquals(CUDA_ERROR_INVALID_VALUE, r);
                assertTrue(EmulatedDriver.lastError().contains("parameter buffer of 12 bytes, the kernel's 3 parameters take 16 bytes"),
                        EmulatedDriver.lastError());
            }
        }
    }

    @Test
    void hostPointerGivenAsDevicePointerIsRejected() {
        try (PinnedBuffer host = new PinnedBuffer(64)) {
            assertEquals(CUDA_ERROR_INVALID_VALUE, launch("probe_fill", 1, 32, host.pointer().address(), 4, 1.0f));
            assertTrue(EmulatedDriver.lastError().contains("is not a device pointer"), EmulatedDriver.lastError());
        }
    }

    @Test
    void copyBeyondAnAllocationIsRejected() {
        try (DeviceBuffer small = device.allocate(12); FloatPointer host = new FloatPointer(4)) {
            assertEquals(CUDA_ERROR_INVALID_VALUE, cuMemcpyHtoD(small.address(), host, 16));
            assertTrue(EmulatedDriver.lastError().contains("overrun the device allocation"), EmulatedDriver.lastError());
            assertEquals(CUDA_ERROR_INVALID_VALUE, cuMemcpyDtoH(host, small.address() + 8, 8));
        }
    }

    @Test
    void barrierInDivergentCodeIsReportedAsDeadlock() {
        try (DeviceBuffer out = device.allocate(4L * 64)) {
            assertEquals(CUDA_ERROR_LAUNCH_FAILED, launch("probe_divergent_barrier", 1, 64, out.address()));
            assertTrue(EmulatedDriver.lastError().contains("deadlock"), EmulatedDriver.lastError());
            // The context stays usable afterwards (unlike a real GPU context after a fault).
            assertEquals(CUDA_SUCCESS, launch("probe_fill", 1, 32, out.address(), 64, 2.0f));
        }
    }

    /** Launches a probe kernel with a null-terminated kernelParams array built from the arguments. */
    private static int launch(String kernel, int blocks, int threads, Object... args) {
        device.makeCurrent();
        List<Pointer> values = new ArrayList<>();
        try (PointerPointer<Pointer> params = new PointerPointer<>(args.length + 1)) {
            for (int i = 0; i < args.length; i++) {
                Pointer p = switch (args[i]) {
                    case Long l -> new LongPointer(1).put(0, l);
                    case Integer n -> new IntPointer(1).put(0, n);
                    case Float f -> new FloatPointer(1).put(0, f);
                    default -> throw new IllegalArgumentException("unsupported argument " + args[i]);
                };
                values.add(p);
                params.put(i, p);
            }
            params.put(args.length, (Pointer) null);
            return cuLaunchKernel(function(kernel), blocks, 1, 1, threads, 1, 1, 0, device.stream(), params, (PointerPointer<?>) null);
        } finally {
            values.forEach(Pointer::close);
        }
    }

    private static CUfunc_st function(String name) {
        CUfunc_st f = new CUfunc_st();
        DriverCall.check(cuModuleGetFunction(f, module, name), "cuModuleGetFunction(" + name + ")");
        return f;
    }

    private static DeviceBuffer upload(float[] values) {
        DeviceBuffer b = device.allocate(4L * values.length);
        try (FloatPointer host = new FloatPointer(values)) {
            DriverCall.check(cuMemcpyHtoD(b.address(), host, b.bytes()), "cuMemcpyHtoD");
        }
        return b;
    }

    private static float[] download(DeviceBuffer b, int count) {
        float[] out = new float[count];
        try (FloatPointer host = new FloatPointer(count)) {
            DriverCall.check(cuMemcpyDtoH(host, b.address(), 4L * count), "cuMemcpyDtoH");
            host.get(out);
        }
        return out;
    }

    private static int[] downloadInts(DeviceBuffer b, int count) {
        int[] out = new int[count];
        try (IntPointer host = new IntPointer(count)) {
            DriverCall.check(cuMemcpyDtoH(host, b.address(), 4L * count), "cuMemcpyDtoH");
            host.get(out);
        }
        return out;
    }
}
