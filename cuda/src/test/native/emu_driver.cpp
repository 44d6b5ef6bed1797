// The CUDA driver API calls the ppsd backend uses, implemented on the host for tests: a
// test-only libcuda.so.1. Device memory is host memory (see emu_memory.h), streams run their work
// at once on the calling thread, modules are PTX texts whose entry points resolve to the kernels
// compiled into this library (emu_registry.h), and launches run on fibers (emu_block_runner.h).
//
// Every failure returns the CUresult a driver would, and also prints a line to stderr and keeps
// the message for ppsd_emu_last_error(), so tests can assert on it. Errors are not sticky: the
// context stays usable after a failed launch (a real GPU context would not).
#include <cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "emu_block_runner.h"
#include "emu_memory.h"
#include "emu_registry.h"

struct CUctx_st {
    int device;
    int retains;
};
// Work recorded while a stream captures (cuStreamBeginCapture .. cuStreamEndCapture), replayed by
// cuGraphLaunch: kernel launches with a copy of their parameter buffer, and copies whose source is
// read when the graph runs (as a real memcpy node reads it).
struct GraphOp {
    const ppsd_emu::KernelInfo* kernel;  // null for a copy
    std::vector<unsigned char> params;
    dim3 grid, block;
    void* dst;
    const void* src;
    size_t bytes;
    int direction;  // copies: 0 host to device, 1 device to host, 2 device to device
};
struct CUstream_st {
    int id;
    bool capturing;
    std::vector<GraphOp> captured;
};
struct CUgraph_st {
    std::vector<GraphOp> ops;
};
struct CUgraphExec_st {
    std::vector<GraphOp> ops;
};
struct CUevent_st {
    std::chrono::steady_clock::time_point time;
    bool recorded;
};
struct CUfunc_st {
    const ppsd_emu::KernelInfo* kernel;
};
struct CUmod_st {
    std::map<std::string, std::unique_ptr<CUfunc_st>> functions;
};

namespace {

using ppsd_emu::MemoryKind;

constexpr int kMaxDevices = 8;
bool initialised = false;
int device_count = 1;
CUctx_st primary[kMaxDevices];
thread_local CUctx_st* current = nullptr;
std::mutex last_error_mutex;
std::string last_error;

// What the backend asked of the driver, for tests that hold it to a budget per decoded token
// (read and reset through ppsd_emu_counters). Counted only for calls that succeed.
enum Counter { LAUNCHES, HTOD_COPIES, HTOD_BYTES, DTOH_COPIES, DTOH_BYTES, DTOD_COPIES, SYNCHRONIZATIONS, GRAPH_LAUNCHES, COUNTERS };
// Set through ppsd_emu_refuse_graphs: stream capture then fails as on a driver without graph support.
bool refuse_graphs = false;
unsigned long long counters[COUNTERS];
void count(Counter c, unsigned long long by = 1) { __atomic_fetch_add(&counters[c], by, __ATOMIC_RELAXED); }

// Failures go to stderr and, when PPSD_EMU_LOG names a file, to that file too (surefire does not
// show what native code writes to a forked JVM's stderr).
CUresult failure(CUresult code, const std::string& message) {
    std::fprintf(stderr, "[ppsd-emu] %s\n", message.c_str());
    std::lock_guard<std::mutex> lock(last_error_mutex);
    last_error = message;
    if (const char* path = std::getenv("PPSD_EMU_LOG")) {
        if (FILE* f = std::fopen(path, "a")) {
            std::fprintf(f, "%s\n", message.c_str());
            std::fclose(f);
        }
    }
    return code;
}

#define REQUIRE_INIT() \
    if (!initialised) return failure(CUDA_ERROR_NOT_INITIALIZED, std::string(__func__) + ": cuInit has not been called")
#define REQUIRE_CONTEXT() \
    REQUIRE_INIT();       \
    if (current == nullptr) return failure(CUDA_ERROR_INVALID_CONTEXT, std::string(__func__) + ": no current context on this thread")

CUresult check(const std::string& problem, const char* call) {
    return problem.empty() ? CUDA_SUCCESS : failure(CUDA_ERROR_INVALID_VALUE, std::string(call) + ": " + problem);
}

size_t param_bytes(const std::string& type) {
    if (type == ".u64" || type == ".s64" || type == ".b64" || type == ".f64") return 8;
    if (type == ".u32" || type == ".s32" || type == ".b32" || type == ".f32") return 4;
    if (type == ".u16" || type == ".s16" || type == ".b16" || type == ".f16") return 2;
    if (type == ".u8" || type == ".s8" || type == ".b8") return 1;
    return 0;
}

// Entry points of a PTX text with the byte size of each parameter, in order.
std::map<std::string, std::vector<size_t>> ptx_entries(const char* ptx) {
    std::map<std::string, std::vector<size_t>> entries;
    const char* p = ptx;
    while ((p = std::strstr(p, ".entry")) != nullptr) {
        p += 6;
        while (*p == ' ' || *p == '\t') p++;
        const char* start = p;
        while (*p && *p != '(' && *p != ' ' && *p != '\n' && *p != '\t') p++;
        std::string name(start, p);
        std::vector<size_t> params;
        const char* close = std::strchr(p, ')');
        const char* q = p;
        while (close != nullptr && (q = std::strstr(q, ".param")) != nullptr && q < close) {
            q += 6;
            char tok[64];
            int consumed = 0;
            // ".param [.align N] .type name[count]"
            if (std::sscanf(q, " %63s%n", tok, &consumed) != 1) break;
            q += consumed;
            if (std::strcmp(tok, ".align") == 0) {
                int align;
                if (std::sscanf(q, " %d %63s%n", &align, tok, &consumed) != 2) break;
                q += consumed;
            }
            size_t bytes = param_bytes(tok);
            char pname[128];
            if (std::sscanf(q, " %127[^,)\n]", pname) == 1) {
                const char* bracket = std::strchr(pname, '[');
                if (bracket != nullptr) bytes *= (size_t) std::atol(bracket + 1);
            }
            params.push_back(bytes);
        }
        entries[name] = params;
    }
    return entries;
}

CUresult copy(void* dst, const void* src, size_t bytes) {
    std::memmove(dst, src, bytes);
    return CUDA_SUCCESS;
}

CUstream_st* capturing_stream = nullptr;

// The kernel's pointer parameters must point into live device allocations (or be null).
CUresult check_pointers(const ppsd_emu::KernelInfo& k, std::vector<unsigned char>& buffer, const std::string& who) {
    for (size_t i = 0; i < k.params.size(); i++) {
        if (!k.params[i].pointer) continue;
        uintptr_t p;
        std::memcpy(&p, buffer.data() + k.params[i].offset, sizeof p);
        std::string problem = ppsd_emu::check_device_pointer(p);
        if (!problem.empty()) return failure(CUDA_ERROR_INVALID_VALUE, who + "parameter " + std::to_string(i) + ": " + problem);
    }
    return CUDA_SUCCESS;
}

// Runs a kernel over its grid with the parameter values in `buffer`, then checks the canaries of
// everything its pointers reach (a kernel can only reach memory through its pointer parameters).
CUresult run_launch(const ppsd_emu::KernelInfo& k, std::vector<unsigned char>& buffer, dim3 grid, dim3 block, const std::string& who) {
    if (CUresult r = check_pointers(k, buffer, who)) return r;
    std::vector<void*> args(k.params.size());
    for (size_t i = 0; i < k.params.size(); i++) args[i] = buffer.data() + k.params[i].offset;
    std::string error = ppsd_emu::run_grid(k, args.data(), grid, block);
    if (!error.empty()) return failure(CUDA_ERROR_LAUNCH_FAILED, who + error);
    for (size_t i = 0; i < k.params.size(); i++) {
        if (!k.params[i].pointer) continue;
        uintptr_t p;
        std::memcpy(&p, buffer.data() + k.params[i].offset, sizeof p);
        if (p == 0) continue;
        std::string damage = ppsd_emu::check_canaries(p);
        if (!damage.empty()) return failure(CUDA_ERROR_ILLEGAL_ADDRESS, who + damage);
    }
    return CUDA_SUCCESS;
}

CUresult record_copy(CUstream_st* stream, void* dst, const void* src, size_t bytes, int direction) {
    stream->captured.push_back(GraphOp{nullptr, {}, dim3{0, 0, 0}, dim3{0, 0, 0}, dst, src, bytes, direction});
    return CUDA_SUCCESS;
}

}  // namespace

extern "C" {

// Emulator-only: the message of the last failure, for tests (read through the FFM API).
const char* ppsd_emu_last_error() {
    std::lock_guard<std::mutex> lock(last_error_mutex);
    static thread_local std::string copy;
    copy = last_error;
    return copy.c_str();
}

// Emulator-only: copies the counters (kernel launches, host-to-device copies and bytes,
// device-to-host copies and bytes, device-to-device copies, synchronizations, graph launches) into
// out[0..n) and zeroes them. Copies and kernels that run as graph nodes count as copies, not as
// launches: a launch is a call the host makes.
int ppsd_emu_counters(unsigned long long* out, int n) {
    for (int i = 0; i < n && i < COUNTERS; i++) out[i] = __atomic_exchange_n(&counters[i], 0ull, __ATOMIC_RELAXED);
    return COUNTERS;
}

// Emulator-only: makes cuStreamBeginCapture fail (refuse != 0) or work again, to test fallbacks.
void ppsd_emu_refuse_graphs(int refuse) {
    refuse_graphs = refuse != 0;
}

CUresult cuInit(unsigned int flags) {
    if (flags != 0) return failure(CUDA_ERROR_INVALID_VALUE, "cuInit: flags must be 0");
    const char* env = std::getenv("PPSD_EMU_DEVICES");
    if (env != nullptr) device_count = std::max(0, std::min(kMaxDevices, std::atoi(env)));
    if (device_count == 0) return failure(CUDA_ERROR_NO_DEVICE, "cuInit: PPSD_EMU_DEVICES=0, no device");
    for (int i = 0; i < kMaxDevices; i++) primary[i].device = i;
    initialised = true;
    return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* version) {
    *version = 13000;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    REQUIRE_INIT();
    *count = device_count;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    REQUIRE_INIT();
    if (ordinal < 0 || ordinal >= device_count) {
        return failure(CUDA_ERROR_INVALID_DEVICE, "cuDeviceGet: no device " + std::to_string(ordinal));
    }
    *device = ordinal;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice device) {
    REQUIRE_INIT();
    if (device < 0 || device >= device_count) return failure(CUDA_ERROR_INVALID_DEVICE, "cuDeviceGetName: bad device");
    std::snprintf(name, (size_t) len, "ppsd CPU emulation of an sm_80 device #%d", device);
    return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem(size_t* bytes, CUdevice device) {
    REQUIRE_INIT();
    (void) device;
    *bytes = (size_t) 16 << 30;
    return CUDA_SUCCESS;
}

CUresult cuMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    REQUIRE_CONTEXT();
    *total_bytes = (size_t) 16 << 30;
    size_t used = ppsd_emu::device_bytes_in_use();
    *free_bytes = used > *total_bytes ? 0 : *total_bytes - used;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, CUdevice_attribute attribute, CUdevice device) {
    REQUIRE_INIT();
    if (device < 0 || device >= device_count) return failure(CUDA_ERROR_INVALID_DEVICE, "cuDeviceGetAttribute: bad device");
    switch (attribute) {
        case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = 8; break;
        case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = 0; break;
        // As many as an H100/H200 has, so that grids are sized here as they are there.
        case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = 132; break;
        case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *value = 1024; break;
        case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *value = 32; break;
        case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *value = 48 * 1024; break;
        default:
            return failure(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetAttribute: attribute " + std::to_string((int) attribute) + " is not emulated");
    }
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice device) {
    REQUIRE_INIT();
    if (device < 0 || device >= device_count) return failure(CUDA_ERROR_INVALID_DEVICE, "cuDevicePrimaryCtxRetain: bad device");
    primary[device].retains++;
    *ctx = &primary[device];
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice device) {
    REQUIRE_INIT();
    if (device < 0 || device >= device_count || primary[device].retains == 0) {
        return failure(CUDA_ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease: primary context of device " + std::to_string(device) + " is not retained");
    }
    primary[device].retains--;
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
    REQUIRE_INIT();
    if (ctx != nullptr && ctx->retains == 0) return failure(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: context is not retained");
    current = ctx;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext* ctx) {
    REQUIRE_INIT();
    *ctx = current;
    return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice* device) {
    REQUIRE_CONTEXT();
    *device = current->device;
    return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize() {
    REQUIRE_CONTEXT();
    if (capturing_stream != nullptr) return failure(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuCtxSynchronize: a stream is capturing a graph");
    std::string damage = ppsd_emu::check_canaries(0);
    count(SYNCHRONIZATIONS);
    return damage.empty() ? CUDA_SUCCESS : failure(CUDA_ERROR_ILLEGAL_ADDRESS, "cuCtxSynchronize: " + damage);
}

CUresult cuStreamCreate(CUstream* stream, unsigned int flags) {
    REQUIRE_CONTEXT();
    (void) flags;
    static int next_id = 1;
    *stream = new CUstream_st{next_id++, false, {}};
    return CUDA_SUCCESS;
}

CUresult cuStreamDestroy(CUstream stream) {
    REQUIRE_CONTEXT();
    delete stream;
    return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream stream) {
    REQUIRE_CONTEXT();
    if (stream != nullptr && stream->capturing) return failure(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamSynchronize: the stream is capturing a graph");
    (void) stream;  // work ran when it was enqueued
    std::string damage = ppsd_emu::check_canaries(0);
    count(SYNCHRONIZATIONS);
    return damage.empty() ? CUDA_SUCCESS : failure(CUDA_ERROR_ILLEGAL_ADDRESS, "cuStreamSynchronize: " + damage);
}

CUresult cuEventCreate(CUevent* event, unsigned int flags) {
    REQUIRE_CONTEXT();
    (void) flags;
    *event = new CUevent_st{{}, false};
    return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
    REQUIRE_CONTEXT();
    (void) stream;
    event->time = std::chrono::steady_clock::now();
    event->recorded = true;
    return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(CUevent event) {
    REQUIRE_CONTEXT();
    (void) event;
    count(SYNCHRONIZATIONS);
    return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent end) {
    REQUIRE_CONTEXT();
    if (!start->recorded || !end->recorded) return failure(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: event not recorded");
    *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
    return CUDA_SUCCESS;
}

CUresult cuEventDestroy(CUevent event) {
    REQUIRE_CONTEXT();
    delete event;
    return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr* ptr, size_t bytes) {
    REQUIRE_CONTEXT();
    if (bytes == 0) return failure(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc: 0 bytes");
    uintptr_t p = ppsd_emu::allocate(bytes, MemoryKind::DEVICE);
    if (p == 0) return failure(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc: out of host memory for " + std::to_string(bytes) + " bytes");
    *ptr = (CUdeviceptr) p;
    return CUDA_SUCCESS;
}

CUresult cuMemFree(CUdeviceptr ptr) {
    REQUIRE_CONTEXT();
    std::string problem = ppsd_emu::release((uintptr_t) ptr, MemoryKind::DEVICE);
    return problem.empty() ? CUDA_SUCCESS : failure(CUDA_ERROR_ILLEGAL_ADDRESS, "cuMemFree: " + problem);
}

CUresult cuMemAllocHost(void** ptr, size_t bytes) {
    REQUIRE_CONTEXT();
    uintptr_t p = ppsd_emu::allocate(bytes == 0 ? 1 : bytes, MemoryKind::PINNED_HOST);
    if (p == 0) return failure(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAllocHost: out of host memory");
    *ptr = reinterpret_cast<void*>(p);
    return CUDA_SUCCESS;
}

CUresult cuMemFreeHost(void* ptr) {
    REQUIRE_CONTEXT();
    std::string problem = ppsd_emu::release((uintptr_t) ptr, MemoryKind::PINNED_HOST);
    return problem.empty() ? CUDA_SUCCESS : failure(CUDA_ERROR_ILLEGAL_ADDRESS, "cuMemFreeHost: " + problem);
}

CUresult cuMemcpyHtoD(CUdeviceptr dst, const void* src, size_t bytes) {
    REQUIRE_CONTEXT();
    if (CUresult r = check(ppsd_emu::check_range(dst, bytes, MemoryKind::DEVICE), "cuMemcpyHtoD destination")) return r;
    count(HTOD_COPIES);
    count(HTOD_BYTES, bytes);
    return copy(reinterpret_cast<void*>(dst), src, bytes);
}

CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void* src, size_t bytes, CUstream stream) {
    if (stream != nullptr && stream->capturing) return record_copy(stream, reinterpret_cast<void*>(dst), src, bytes, 0);
    return cuMemcpyHtoD(dst, src, bytes);
}

CUresult cuMemcpyDtoH(void* dst, CUdeviceptr src, size_t bytes) {
    REQUIRE_CONTEXT();
    if (CUresult r = check(ppsd_emu::check_range(src, bytes, MemoryKind::DEVICE), "cuMemcpyDtoH source")) return r;
    count(DTOH_COPIES);
    count(DTOH_BYTES, bytes);
    return copy(dst, reinterpret_cast<const void*>(src), bytes);
}

CUresult cuMemcpyDtoHAsync(void* dst, CUdeviceptr src, size_t bytes, CUstream stream) {
    if (stream != nullptr && stream->capturing) return record_copy(stream, dst, reinterpret_cast<const void*>(src), bytes, 1);
    return cuMemcpyDtoH(dst, src, bytes);
}

CUresult cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    REQUIRE_CONTEXT();
    if (CUresult r = check(ppsd_emu::check_range(dst, bytes, MemoryKind::DEVICE), "cuMemcpyDtoD destination")) return r;
    if (CUresult r = check(ppsd_emu::check_range(src, bytes, MemoryKind::DEVICE), "cuMemcpyDtoD source")) return r;
    count(DTOD_COPIES);
    return copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
}

CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream) {
    if (stream != nullptr && stream->capturing) return record_copy(stream, reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, 2);
    return cuMemcpyDtoD(dst, src, bytes);
}

CUresult cuMemsetD8(CUdeviceptr dst, unsigned char value, size_t count) {
    REQUIRE_CONTEXT();
    if (CUresult r = check(ppsd_emu::check_range(dst, count, MemoryKind::DEVICE), "cuMemsetD8")) return r;
    std::memset(reinterpret_cast<void*>(dst), value, count);
    return CUDA_SUCCESS;
}

CUresult cuMemsetD32(CUdeviceptr dst, unsigned int value, size_t count) {
    REQUIRE_CONTEXT();
    if (CUresult r = check(ppsd_emu::check_range(dst, count * 4, MemoryKind::DEVICE), "cuMemsetD32")) return r;
    auto* p = reinterpret_cast<unsigned int*>(dst);
    for (size_t i = 0; i < count; i++) p[i] = value;
    return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    REQUIRE_CONTEXT();
    const char* text = static_cast<const char*>(image);
    if (std::strncmp(text, "\x7f" "ELF", 4) == 0) {
        return failure(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: the emulator runs PTX modules only, not cubins");
    }
    if (std::strstr(text, ".version") == nullptr || std::strstr(text, ".target") == nullptr) {
        return failure(CUDA_ERROR_INVALID_PTX, "cuModuleLoadData: image is not PTX text (.version/.target missing)");
    }
    auto m = std::make_unique<CUmod_st>();
    for (auto& [name, sizes] : ptx_entries(text)) {
        const ppsd_emu::KernelInfo* k = ppsd_emu::find_kernel(name);
        if (k == nullptr) continue;  // reported by cuModuleGetFunction if anyone asks for it
        // The PTX (from nvcc) and the host build of the same source must agree on the parameters;
        // if not, one of them is stale.
        bool same = sizes.size() == k->params.size();
        for (size_t i = 0; same && i < sizes.size(); i++) same = sizes[i] == k->params[i].size;
        if (!same) {
            std::string ptx = "(";
            for (size_t i = 0; i < sizes.size(); i++) ptx += (i ? ", " : "") + std::to_string(sizes[i] * 8) + "-bit";
            return failure(CUDA_ERROR_INVALID_PTX, "cuModuleLoadData: kernel " + name + " has parameters " + ptx
                    + ") in the PTX but " + k->signature() + " in the emulator's build: rebuild one of them");
        }
        m->functions[name] = std::make_unique<CUfunc_st>(CUfunc_st{k});
    }
    *module = m.release();
    return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule module) {
    REQUIRE_CONTEXT();
    delete module;
    return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name) {
    REQUIRE_CONTEXT();
    auto it = module->functions.find(name);
    if (it == module->functions.end()) {
        bool compiled = ppsd_emu::find_kernel(name) != nullptr;
        return failure(CUDA_ERROR_NOT_FOUND, std::string("cuModuleGetFunction: ") + name
                + (compiled ? " is not an entry point of this module" : " is not a kernel compiled into the emulator (nor in this module)"));
    }
    *function = it->second.get();
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                        unsigned int bz, unsigned int shared_bytes, CUstream stream, void** kernel_params, void** extra) {
    REQUIRE_CONTEXT();
    const ppsd_emu::KernelInfo& k = *f->kernel;
    std::string who = "cuLaunchKernel(" + k.name + k.signature() + "): ";
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gy > 65535 || gz > 65535) {
        return failure(CUDA_ERROR_INVALID_VALUE, who + "invalid grid or block dimensions");
    }
    if ((unsigned long long) bx * by * bz > 1024) return failure(CUDA_ERROR_INVALID_VALUE, who + "more than 1024 threads per block");
    if (shared_bytes != 0) return failure(CUDA_ERROR_INVALID_VALUE, who + "dynamic shared memory is not emulated (kernels use static __shared__ arrays)");

    // The parameter values are copied at launch, as the driver does.
    std::vector<unsigned char> buffer(k.buffer_size + 8);
    if (extra != nullptr) {
        void* packed = nullptr;
        size_t* packed_size = nullptr;
        for (void** e = extra; *e != CU_LAUNCH_PARAM_END; e += 2) {
            if (e[0] == CU_LAUNCH_PARAM_BUFFER_POINTER) packed = e[1];
            else if (e[0] == CU_LAUNCH_PARAM_BUFFER_SIZE) packed_size = static_cast<size_t*>(e[1]);
            else return failure(CUDA_ERROR_INVALID_VALUE, who + "unknown entry " + std::to_string((uintptr_t) e[0]) + " in extra");
        }
        if (packed == nullptr || packed_size == nullptr) return failure(CUDA_ERROR_INVALID_VALUE, who + "extra needs both BUFFER_POINTER and BUFFER_SIZE");
        if (*packed_size != k.buffer_size) {
            return failure(CUDA_ERROR_INVALID_VALUE, who + "parameter buffer of " + std::to_string(*packed_size) + " bytes, the kernel's "
                    + std::to_string(k.params.size()) + " parameters take " + std::to_string(k.buffer_size) + " bytes");
        }
        std::memcpy(buffer.data(), packed, k.buffer_size);
    } else if (kernel_params != nullptr) {
        // Without a size, the count is checked by convention: the ppsd backend and the tests end
        // the array with a null entry (a real driver ignores what follows the last parameter).
        for (size_t i = 0; i < k.params.size(); i++) {
            if (kernel_params[i] == nullptr) {
                return failure(CUDA_ERROR_INVALID_VALUE, who + "kernelParams has " + std::to_string(i) + " entries, the kernel takes "
                        + std::to_string(k.params.size()));
            }
            std::memcpy(buffer.data() + k.params[i].offset, kernel_params[i], k.params[i].size);
        }
        if (kernel_params[k.params.size()] != nullptr) {
            return failure(CUDA_ERROR_INVALID_VALUE, who + "kernelParams has more than the kernel's " + std::to_string(k.params.size())
                    + " entries (or is not null-terminated)");
        }
    } else if (!k.params.empty()) {
        return failure(CUDA_ERROR_INVALID_VALUE, who + "no parameters given");
    }

    if (stream != nullptr && stream->capturing) {
        // Checked now (a bad pointer fails the capture, as on a device), run by cuGraphLaunch.
        if (CUresult r = check_pointers(k, buffer, who)) return r;
        stream->captured.push_back(GraphOp{&k, buffer, dim3{gx, gy, gz}, dim3{bx, by, bz}, nullptr, nullptr, 0, 0});
        return CUDA_SUCCESS;
    }
    if (CUresult r = run_launch(k, buffer, dim3{gx, gy, gz}, dim3{bx, by, bz}, who)) return r;
    count(LAUNCHES);
    return CUDA_SUCCESS;
}

// Graphs: a capture records the stream's launches and copies (nothing runs), instantiation copies
// the record, a launch replays it in order; kernels and copies are checked again when they run.
CUresult cuStreamBeginCapture(CUstream stream, CUstreamCaptureMode mode) {
    REQUIRE_CONTEXT();
    (void) mode;
    if (refuse_graphs) return failure(CUDA_ERROR_NOT_SUPPORTED, "cuStreamBeginCapture: graphs refused (ppsd_emu_refuse_graphs)");
    if (stream == nullptr) return failure(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture: the legacy stream cannot be captured");
    if (capturing_stream != nullptr) return failure(CUDA_ERROR_ILLEGAL_STATE, "cuStreamBeginCapture: another stream is capturing (the emulator captures one at a time)");
    stream->capturing = true;
    stream->captured.clear();
    capturing_stream = stream;
    return CUDA_SUCCESS;
}

CUresult cuStreamEndCapture(CUstream stream, CUgraph* graph) {
    REQUIRE_CONTEXT();
    if (stream == nullptr || !stream->capturing) return failure(CUDA_ERROR_ILLEGAL_STATE, "cuStreamEndCapture: the stream is not capturing");
    *graph = new CUgraph_st{std::move(stream->captured)};
    stream->captured.clear();
    stream->capturing = false;
    capturing_stream = nullptr;
    return CUDA_SUCCESS;
}

CUresult cuGraphInstantiate(CUgraphExec* exec, CUgraph graph, unsigned long long flags) {
    REQUIRE_CONTEXT();
    (void) flags;
    if (graph == nullptr) return failure(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiate: no graph");
    *exec = new CUgraphExec_st{graph->ops};
    return CUDA_SUCCESS;
}

CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream) {
    REQUIRE_CONTEXT();
    if (exec == nullptr) return failure(CUDA_ERROR_INVALID_VALUE, "cuGraphLaunch: no graph");
    if (stream != nullptr && stream->capturing) return failure(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuGraphLaunch: into a capturing stream");
    for (GraphOp& op : exec->ops) {
        CUresult r;
        if (op.kernel != nullptr) {
            r = run_launch(*op.kernel, op.params, op.grid, op.block, "cuGraphLaunch(" + op.kernel->name + "): ");
        } else if (op.direction == 0) {
            r = cuMemcpyHtoD(reinterpret_cast<CUdeviceptr>(op.dst), op.src, op.bytes);
        } else if (op.direction == 1) {
            r = cuMemcpyDtoH(op.dst, reinterpret_cast<CUdeviceptr>(op.src), op.bytes);
        } else {
            r = cuMemcpyDtoD(reinterpret_cast<CUdeviceptr>(op.dst), reinterpret_cast<CUdeviceptr>(op.src), op.bytes);
        }
        if (r != CUDA_SUCCESS) return r;
    }
    count(GRAPH_LAUNCHES);
    return CUDA_SUCCESS;
}

CUresult cuGraphExecDestroy(CUgraphExec exec) {
    REQUIRE_CONTEXT();
    delete exec;
    return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph graph) {
    REQUIRE_CONTEXT();
    delete graph;
    return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** name) {
    switch (error) {
        case CUDA_SUCCESS: *name = "CUDA_SUCCESS"; break;
        case CUDA_ERROR_INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; break;
        case CUDA_ERROR_OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
        case CUDA_ERROR_NOT_INITIALIZED: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
        case CUDA_ERROR_NO_DEVICE: *name = "CUDA_ERROR_NO_DEVICE"; break;
        case CUDA_ERROR_INVALID_DEVICE: *name = "CUDA_ERROR_INVALID_DEVICE"; break;
        case CUDA_ERROR_INVALID_IMAGE: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
        case CUDA_ERROR_INVALID_CONTEXT: *name = "CUDA_ERROR_INVALID_CONTEXT"; break;
        case CUDA_ERROR_INVALID_PTX: *name = "CUDA_ERROR_INVALID_PTX"; break;
        case CUDA_ERROR_INVALID_HANDLE: *name = "CUDA_ERROR_INVALID_HANDLE"; break;
        case CUDA_ERROR_NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; break;
        case CUDA_ERROR_ILLEGAL_ADDRESS: *name = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
        case CUDA_ERROR_LAUNCH_FAILED: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
        case CUDA_ERROR_NOT_SUPPORTED: *name = "CUDA_ERROR_NOT_SUPPORTED"; break;
        case CUDA_ERROR_ILLEGAL_STATE: *name = "CUDA_ERROR_ILLEGAL_STATE"; break;
        case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: *name = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
        default: *name = nullptr; return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
    const char* name;
    if (cuGetErrorName(error, &name) != CUDA_SUCCESS) {
        *text = nullptr;
        return CUDA_ERROR_INVALID_VALUE;
    }
    *text = name;  // the emulator's detail is in ppsd_emu_last_error()
    return CUDA_SUCCESS;
}

}  // extern "C"
