package io.ppsd.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class CudaSettingsTest {
    @Test
    void defaultsComeFromReferenceConf() {
        assertEquals(new CudaSettings(0, 32, KernelSource.AUTO, false), CudaSettings.load());
    }

    @Test
    void overridesAreRead() {
        var config = ConfigFactory.parseString("ppsd.cuda { device = 1, max-batch = 8, kernels = nvrtc, profile = true, kv-cache-dtype = f32, graphs = off }")
                .withFallback(ConfigFactory.load());
        assertEquals(new CudaSettings(1, 8, KernelSource.NVRTC, true, 0.9, KvDtype.F32, false), CudaSettings.from(config));
        assertEquals(3, CudaSettings.from(config).onDevice(3).device());
    }

    @Test
    void invalidValuesAreRejectedWithTheKey() {
        var config = ConfigFactory.parseString("ppsd.cuda.kernels = cubin").withFallback(ConfigFactory.load());
        var e = assertThrows(IllegalArgumentException.class, () -> CudaSettings.from(config));
        assertEquals("ppsd.cuda.kernels must be auto, ptx or nvrtc, got 'cubin'", e.getMessage());
        var batch = ConfigFactory.parseString("ppsd.cuda.max-batch = 0").withFallback(ConfigFactory.load());
        assertThrows(IllegalArgumentException.class, () -> CudaSettings.from(batch));
        var dtype = ConfigFactory.parseString("ppsd.cuda.kv-cache-dtype = fp8").withFallback(ConfigFactory.load());
        assertEquals("ppsd.cuda.kv-cache-dtype must be bf16 or f32, got 'fp8'",
                assertThrows(IllegalArgumentException.class, () -> CudaSettings.from(dtype)).getMessage());
    }
}
