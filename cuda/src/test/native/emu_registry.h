// The kernels compiled into the emulator, by name, with their parameter layout taken from the
// host compiler's view of the signature. cuModuleGetFunction resolves names here; cuLaunchKernel
// checks what it is handed against `params`.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ppsd_emu {

struct ParamInfo {
    size_t size;
    size_t align;
    size_t offset;    // in the packed parameter buffer (natural alignment, as in PTX)
    bool pointer;     // must be 0 or point into a live device allocation
};

struct KernelInfo {
    std::string module;  // the .cu file it comes from (without extension)
    std::string name;
    std::vector<ParamInfo> params;
    size_t buffer_size;  // end of the last parameter
    void (*invoke)(void* fn, void** args);
    void* fn;

    std::string signature() const;  // e.g. "(ptr, ptr, int32, float32)"
};

const KernelInfo* find_kernel(const std::string& name);
bool add_kernel(KernelInfo info);

template <typename... A, size_t... I>
void invoke_with(void* fn, void** args, std::index_sequence<I...>) {
    auto f = reinterpret_cast<void (*)(A...)>(fn);
    f(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}

template <typename... A>
void invoke_kernel(void* fn, void** args) {
    invoke_with<A...>(fn, args, std::index_sequence_for<A...>{});
}

template <typename... A>
bool register_kernel(const char* module, const char* name, void (*fn)(A...)) {
    KernelInfo k;
    k.module = module;
    k.name = name;
    size_t offset = 0;
    std::vector<std::pair<size_t, size_t>> sizes = {{sizeof(A), alignof(A)}...};
    std::vector<bool> pointers = {std::is_pointer<A>::value...};
    for (size_t i = 0; i < sizes.size(); i++) {
        offset = (offset + sizes[i].second - 1) / sizes[i].second * sizes[i].second;
        k.params.push_back(ParamInfo{sizes[i].first, sizes[i].second, offset, pointers[i]});
        offset += sizes[i].first;
    }
    k.buffer_size = offset;
    k.invoke = &invoke_kernel<A...>;
    k.fn = reinterpret_cast<void*>(fn);
    return add_kernel(std::move(k));
}

}  // namespace ppsd_emu
