package io.ppsd.cuda;

import static org.bytedeco.cuda.global.nvrtc.NVRTC_SUCCESS;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCompileProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCreateProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcDestroyProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetErrorString;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetPTX;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetPTXSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLog;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLogSize;

import java.nio.charset.StandardCharsets;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * FALLBACK PATH, NEVER EXERCISED BY THE TESTS (the emulated driver runs nvcc-built PTX; the test
 * machines have no libnvrtc): compiles a packaged kernel source to PTX at run time with NVRTC,
 * for builds made without nvcc. The shared header is handed to NVRTC as an in-memory include.
 */
final class NvrtcCompiler {
    private static final Logger log = LoggerFactory.getLogger(NvrtcCompiler.class);
    private static final String HEADER = "ppsd_device.cuh";

    private NvrtcCompiler() {}

    static String compile(String module, String architecture) {
        String source = KernelModules.resource(KernelModules.RESOURCE_DIR + "src/" + module + ".cu");
        String header = KernelModules.resource(KernelModules.RESOURCE_DIR + "src/" + HEADER);
        if (source == null || header == null) {
            throw new CudaUnavailableException("neither PTX nor source of kernel module '" + module + "' is on the class path");
        }
        try {
            Loader.load(nvrtc.class);
        } catch (UnsatisfiedLinkError e) {
            throw new CudaUnavailableException("no packaged PTX and NVRTC (libnvrtc.so.13) cannot be loaded to compile kernel module '"
                    + module + "': " + e.getMessage(), e);
        }
        log.info("compiling kernel module {} with NVRTC for {}", module, architecture);
        _nvrtcProgram program = new _nvrtcProgram();
        try (BytePointer src = new BytePointer(source, StandardCharsets.UTF_8);
             BytePointer name = new BytePointer(module + ".cu");
             PointerPointer<BytePointer> headers = new PointerPointer<>(header);
             PointerPointer<BytePointer> includeNames = new PointerPointer<>(HEADER);
             PointerPointer<BytePointer> options = new PointerPointer<>("--gpu-architecture=" + architecture, "-std=c++17", "--use_fast_math=false")) {
            check(nvrtcCreateProgram(program, src, name, 1, headers, includeNames), "nvrtcCreateProgram", null);
            int compiled = nvrtcCompileProgram(program, 3, options);
            check(compiled, "nvrtcCompileProgram(" + module + ")", program);
            try (SizeTPointer size = new SizeTPointer(1)) {
                check(nvrtcGetPTXSize(program, size), "nvrtcGetPTXSize", program);
                try (BytePointer ptx = new BytePointer(size.get())) {
                    check(nvrtcGetPTX(program, ptx), "nvrtcGetPTX", program);
                    return ptx.getString();
                }
            }
        } finally {
            nvrtcDestroyProgram(program);
        }
    }

    private static void check(int result, String call, _nvrtcProgram program) {
        if (result == NVRTC_SUCCESS) return;
        String text = nvrtcGetErrorString(result).getString();
        String programLog = "";
        if (program != null) {
            try (SizeTPointer size = new SizeTPointer(1)) {
                if (nvrtcGetProgramLogSize(program, size) == NVRTC_SUCCESS && size.get() > 1) {
                    try (BytePointer logText = new BytePointer(size.get())) {
                        nvrtcGetProgramLog(program, logText);
                        programLog = "\n" + logText.getString();
                    }
                }
            }
        }
        throw new CudaUnavailableException(call + " failed: " + text + programLog);
    }
}
