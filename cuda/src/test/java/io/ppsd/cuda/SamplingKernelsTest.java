package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuMemcpyDtoH;
import static org.bytedeco.cuda.global.cudart.cuMemcpyHtoD;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.decode.Sampler;
import io.ppsd.runtime.decode.SamplingParams;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The kernels the stage does not call on every token: argmax, temperature sampling, residual add. */
class SamplingKernelsTest {
    private static CudaDevice device;
    private static KernelModules modules;
    private static KernelLaunch launch;

    @BeforeAll
    static void open() {
        EmulatedDriver.require();
        device = CudaDevice.open(0);
        modules = new KernelModules(device, KernelSource.PTX);
        launch = new KernelLaunch(modules, device);
    }

    @AfterAll
    static void close() {
        if (device == null) return;
        device.makeCurrent();
        launch.close();
        modules.close();
        device.close();
    }

    @Test
    void argmaxPicksTheLargestLogitAndTheLowestIndexOnTies() {
        int rows = 3, vocab = 1000;
        float[] logits = new float[rows * vocab];
        var r = new SplittableRandom(1);
        for (int i = 0; i < logits.length; i++) logits[i] = (float) r.nextGaussian();
        logits[417] = 9;               // row 0: clear winner
        logits[vocab + 5] = 7;         // row 1: a tie, the lower index wins
        logits[vocab + 800] = 7;
        logits[2 * vocab + 999] = 8;   // row 2: the last entry
        try (DeviceBuffer in = upload(logits); DeviceBuffer out = device.allocate(4L * rows); DeviceBuffer best = device.allocate(4L * rows)) {
            launch.of(Kernel.ARGMAX).ptr(out).ptr(best).ptr(in).i(vocab).run(rows, 1, 256);
            int[] expected = new int[rows];
            for (int row = 0; row < rows; row++) expected[row] = Sampler.argmax(logits, row * vocab, vocab);
            assertArrayEquals(expected, downloadInts(out, rows));
            assertArrayEquals(new int[] {417, 5, 999}, expected);
            assertArrayEquals(new int[] {Float.floatToIntBits(9), Float.floatToIntBits(7), Float.floatToIntBits(8)}, downloadInts(best, rows));
        }
    }

    @Test
    void argmaxReportsABrokenRowAsNaN() {
        int vocab = 700;
        float[] logits = new float[3 * vocab];
        var r = new SplittableRandom(2);
        for (int i = 0; i < logits.length; i++) logits[i] = (float) r.nextGaussian();
        logits[321] = Float.NaN;                       // row 0: one NaN, not the largest
        logits[vocab + 10] = Float.POSITIVE_INFINITY;  // row 1: +inf
        java.util.Arrays.fill(logits, 2 * vocab, 3 * vocab, Float.NEGATIVE_INFINITY);  // row 2: all masked, legitimate
        try (DeviceBuffer in = upload(logits); DeviceBuffer out = device.allocate(12); DeviceBuffer best = device.allocate(12)) {
            launch.of(Kernel.ARGMAX).ptr(out).ptr(best).ptr(in).i(vocab).run(3, 1, 256);
            int[] values = downloadInts(best, 3);
            assertTrue(Float.isNaN(Float.intBitsToFloat(values[0])));
            assertTrue(Float.isNaN(Float.intBitsToFloat(values[1])));
            assertEquals(Float.NEGATIVE_INFINITY, Float.intBitsToFloat(values[2]));
            assertEquals(0, downloadInts(out, 3)[2], "all masked: token 0, as Sampler.argmax");
        }
    }

    /**
     * choose_token (a decoding step's choice) draws what the host Sampler draws for plain
     * temperature sampling when given the uniform number the sampler would use: the same seeded
     * stream, so the same tokens, masked (−∞) tokens never chosen; temperature 0 is the argmax; a
     * NaN anywhere is reported as a NaN logit.
     */
    @Test
    void chooseTokenDrawsWhatTheHostSamplerDraws() {
        int vocab = 700;
        float temperature = 0.7f;
        float[] logits = new float[vocab];
        var r = new SplittableRandom(2);
        for (int i = 0; i < vocab; i++) logits[i] = i % 7 == 3 ? Float.NEGATIVE_INFINITY : (float) (2 * r.nextGaussian());
        var params = SamplingParams.temperature(temperature, 99);
        var host = new Sampler(params, vocab);
        var stream = new Sampler(params, vocab);  // the same seed: the uniform numbers host.sample draws
        try (DeviceBuffer in = upload(logits); DeviceBuffer out = device.allocate(8); DeviceBuffer best = device.allocate(8);
             DeviceBuffer stepParams = device.allocate(8)) {
            int[] seen = new int[vocab];
            for (int draw = 0; draw < 300; draw++) {
                int expected = host.sample(logits, 0, new int[0], 0);
                double u = stream.uniform();
                upload(stepParams, new float[] {temperature, (float) u});
                launch.of(Kernel.CHOOSE_TOKEN).ptr(out).ptr(best).ptr(in).i(vocab).ptr(stepParams).run(1, 1, 256);
                int got = downloadInts(out, 1)[0];
                assertEquals(expected, got, "draw " + draw + " at u = " + u);
                assertEquals(logits[got], Float.intBitsToFloat(downloadInts(best, 1)[0]));
                seen[got]++;
            }
            for (int i = 3; i < vocab; i += 7) assertEquals(0, seen[i], "masked token " + i + " drawn");
            assertTrue(java.util.Arrays.stream(seen).filter(c -> c > 0).count() > 50, "the draws spread over the vocabulary");

            upload(stepParams, new float[] {0f, 0.5f});
            launch.of(Kernel.CHOOSE_TOKEN).ptr(out).ptr(best).ptr(in).i(vocab).ptr(stepParams).run(1, 1, 256);
            assertEquals(Sampler.argmax(logits, 0, vocab), downloadInts(out, 1)[0], "temperature 0: the argmax");

            logits[500] = Float.NaN;
            upload(in, logits);
            upload(stepParams, new float[] {temperature, 0.5f});
            launch.of(Kernel.CHOOSE_TOKEN).ptr(out).ptr(best).ptr(in).i(vocab).ptr(stepParams).run(1, 1, 256);
            assertTrue(Float.isNaN(Float.intBitsToFloat(downloadInts(best, 1)[0])), "a NaN in the row is reported");
        }
    }

    @Test
    void residualAddAddsElementwise() {
        float[] x = {1, 2, 3, 4, 5}, y = {10, 20, 30, 40, 50};
        try (DeviceBuffer dx = upload(x); DeviceBuffer dy = upload(y)) {
            launch.of(Kernel.RESIDUAL_ADD).ptr(dx).ptr(dy).i(x.length).run(1, 1, 32);
            float[] out = new float[x.length];
            try (FloatPointer host = new FloatPointer(x.length)) {
                check(cuMemcpyDtoH(host, dx.address(), 4L * x.length), "cuMemcpyDtoH");
                host.get(out);
            }
            assertArrayEquals(new float[] {11, 22, 33, 44, 55}, out);
        }
    }

    private static DeviceBuffer upload(float[] values) {
        device.makeCurrent();
        DeviceBuffer b = device.allocate(4L * values.length);
        upload(b, values);
        return b;
    }

    private static void upload(DeviceBuffer b, float[] values) {
        device.synchronize();
        try (FloatPointer host = new FloatPointer(values)) {
            check(cuMemcpyHtoD(b.address(), host, 4L * values.length), "cuMemcpyHtoD");
        }
    }

    private static int[] downloadInts(DeviceBuffer b, int count) {
        device.synchronize();
        int[] out = new int[count];
        try (IntPointer host = new IntPointer(count)) {
            check(cuMemcpyDtoH(host, b.address(), 4L * count), "cuMemcpyDtoH");
            host.get(out);
        }
        return out;
    }
}
