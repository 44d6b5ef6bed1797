package io.ppsd.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The launcher's view of each kernel ({@link Kernel}) matches what nvcc made of the source: same
 * entry point, same parameter kinds in the same order. Needs no driver; on a real GPU machine this
 * is the check that stands in for the emulator's.
 */
class KernelDeclarationsTest {
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)");
    private static final Pattern PARAM = Pattern.compile("\\.param\\s+(?:\\.align\\s+\\d+\\s+)?\\.(\\w+)");

    @ParameterizedTest
    @EnumSource(Kernel.class)
    void packagedPtxDeclaresTheSameParameters(Kernel kernel) {
        String ptx = KernelModules.resource(KernelModules.RESOURCE_DIR + kernel.module + ".ptx");
        assumeTrue(ptx != null, "no packaged PTX (built without nvcc)");
        String params = null;
        Matcher entry = ENTRY.matcher(ptx);
        while (entry.find()) {
            if (entry.group(1).equals(kernel.symbol)) {
                StringBuilder kinds = new StringBuilder();
                Matcher p = PARAM.matcher(entry.group(2));
                while (p.find()) {
                    kinds.append(switch (p.group(1)) {
                        case "u64", "b64" -> 'p';
                        case "u32", "s32", "b32" -> 'i';
                        case "f32" -> 'f';
                        default -> '?';
                    });
                }
                params = kinds.toString();
            }
        }
        assertNotNull(params, kernel.symbol + " is not an entry point of " + kernel.module + ".ptx");
        assertEquals(kernel.parameters, params, "parameters of " + kernel.symbol);
    }

    @Test
    void kernelSourcesArePackagedForNvrtc() {
        for (Kernel k : Kernel.values()) {
            assertNotNull(KernelModules.resource(KernelModules.RESOURCE_DIR + "src/" + k.module + ".cu"), k.module + ".cu");
        }
        assertNotNull(KernelModules.resource(KernelModules.RESOURCE_DIR + "src/ppsd_device.cuh"));
    }

    @Test
    void launcherRejectsArgumentsThatDoNotMatchTheDeclaration() {
        try (KernelLaunch launch = new KernelLaunch(null, null)) {
            var wrongType = assertThrows(IllegalStateException.class, () -> launch.of(Kernel.RMSNORM).ptr(0).ptr(0).i(3));
            assertTrue(wrongType.getMessage().contains("argument 2 must be 'p'"), wrongType.getMessage());
            var tooFew = assertThrows(IllegalStateException.class, () -> launch.of(Kernel.SWIGLU).ptr(0).ptr(0).run(1, 1, 32));
            assertTrue(tooFew.getMessage().contains("takes 3 arguments"), tooFew.getMessage());
            var tooMany = assertThrows(IllegalStateException.class, () -> launch.of(Kernel.SWIGLU).ptr(0).ptr(0).i(1).i(2));
            assertTrue(tooMany.getMessage().contains("more given"), tooMany.getMessage());
        }
    }

    /** Each weight dtype selects its own variant of every kernel family (the CUDA symbol's suffix is the dtype). */
    @ParameterizedTest
    @EnumSource(io.ppsd.runtime.model.DType.class)
    void everyWeightDtypeSelectsItsOwnVariant(io.ppsd.runtime.model.DType t) {
        String suffix = "_" + t.name().toLowerCase(java.util.Locale.ROOT);
        assertEquals("embed" + suffix, Kernel.embed(t).symbol);
        assertEquals("gemv" + suffix, Kernel.gemv(t).symbol);
        assertEquals("gate_up" + suffix, Kernel.gateUp(t).symbol);
        assertEquals("qkv" + suffix, Kernel.qkv(t).symbol);
        assertEquals("gemm" + suffix, Kernel.gemm(t).symbol);
    }
}
