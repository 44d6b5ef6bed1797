package io.ppsd.cuda;

import static io.ppsd.cuda.DriverCall.check;
import static org.bytedeco.cuda.global.cudart.cuModuleGetFunction;
import static org.bytedeco.cuda.global.cudart.cuModuleLoadData;
import static org.bytedeco.cuda.global.cudart.cuModuleUnload;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.javacpp.BytePointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kernel modules loaded into a device's context and their functions. Each .cu file is one
 * module. Its PTX comes from the jar ({@code io/ppsd/cuda/<module>.ptx}, built by nvcc with the
 * project) or, when the build had no nvcc or {@code ppsd.cuda.kernels = nvrtc}, from compiling the
 * packaged sources ({@code io/ppsd/cuda/src/}) with NVRTC for the device's architecture.
 */
final class KernelModules implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KernelModules.class);
    static final String RESOURCE_DIR = "/io/ppsd/cuda/";

    private final Map<String, CUmod_st> modules = new LinkedHashMap<>();
    private final EnumMap<Kernel, CUfunc_st> functions = new EnumMap<>(Kernel.class);

    KernelModules(CudaDevice device, KernelSource source) {
        for (Kernel k : Kernel.values()) {
            CUmod_st module = modules.computeIfAbsent(k.module, name -> load(device, name, source));
            CUfunc_st function = new CUfunc_st();
            check(cuModuleGetFunction(function, module, k.symbol), "cuModuleGetFunction(" + k.symbol + ")");
            functions.put(k, function);
        }
    }

    CUfunc_st function(Kernel k) {
        return functions.get(k);
    }

    private static CUmod_st load(CudaDevice device, String name, KernelSource source) {
        String ptx = source == KernelSource.NVRTC ? null : resource(RESOURCE_DIR + name + ".ptx");
        if (ptx == null) {
            if (source == KernelSource.PTX) {
                throw new CudaUnavailableException("no packaged PTX for kernel module '" + name + "' (the build had no nvcc)");
            }
            ptx = NvrtcCompiler.compile(name, device.properties().architecture());
        } else {
            log.debug("kernel module {}: packaged PTX", name);
        }
        CUmod_st module = new CUmod_st();
        try (BytePointer image = new BytePointer(ptx, StandardCharsets.UTF_8)) {
            check(cuModuleLoadData(module, image), "cuModuleLoadData(" + name + ")");
        }
        return module;
    }

    static String resource(String path) {
        try (InputStream in = KernelModules.class.getResourceAsStream(path)) {
            return in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        }
    }

    /** Unloads the modules; the device's context must be current. */
    @Override
    public void close() {
        for (CUmod_st m : modules.values()) check(cuModuleUnload(m), "cuModuleUnload");
        modules.clear();
        functions.clear();
    }
}
