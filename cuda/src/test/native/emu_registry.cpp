#include "emu_registry.h"

#include <map>
#include <mutex>

namespace ppsd_emu {

namespace {
// Filled by static initialisers of the generated registration files when the library loads.
std::map<std::string, KernelInfo>& kernels() {
    static std::map<std::string, KernelInfo> map;
    return map;
}
std::mutex& kernels_mutex() {
    static std::mutex m;
    return m;
}
}  // namespace

const KernelInfo* find_kernel(const std::string& name) {
    std::lock_guard<std::mutex> lock(kernels_mutex());
    auto it = kernels().find(name);
    return it == kernels().end() ? nullptr : &it->second;
}

bool add_kernel(KernelInfo info) {
    std::lock_guard<std::mutex> lock(kernels_mutex());
    std::string name = info.name;
    kernels()[name] = std::move(info);
    return true;
}

std::string KernelInfo::signature() const {
    std::string s = "(";
    for (size_t i = 0; i < params.size(); i++) {
        if (i > 0) s += ", ";
        s += params[i].pointer ? "ptr" : std::to_string(params[i].size * 8) + "-bit";
    }
    return s + ")";
}

}  // namespace ppsd_emu
