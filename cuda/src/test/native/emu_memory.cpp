#include "emu_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace ppsd_emu {

namespace {

constexpr size_t kGuard = 256;  // canary bytes before the allocation; also the alignment
constexpr unsigned char kCanary = 0xA5;

struct Allocation {
    unsigned char* mapping;  // [guard page][canary][user bytes][canary][guard page]
    size_t mapped;
    unsigned char* raw;      // start of the head canary
    size_t bytes;
    size_t tail;  // canary bytes after the allocation (the rounding slack + kGuard)
    MemoryKind kind;
};

std::mutex mutex;
std::map<uintptr_t, Allocation> allocations;  // by user address
size_t device_total = 0;

const char* kind_name(MemoryKind k) { return k == MemoryKind::DEVICE ? "device" : "pinned host"; }

// The allocation containing `address` (one past the end counts), or null.
const std::pair<const uintptr_t, Allocation>* containing(uintptr_t address) {
    auto it = allocations.upper_bound(address);
    if (it == allocations.begin()) return nullptr;
    --it;
    if (address > it->first + it->second.bytes) return nullptr;
    return &*it;
}

std::string check_one(uintptr_t user, const Allocation& a) {
    const unsigned char* head = a.raw;
    const unsigned char* tail = a.raw + kGuard + a.bytes;
    for (size_t i = 0; i < kGuard; i++) {
        if (head[i] != kCanary) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "write before the start of the %s allocation at 0x%lx (%zu bytes): byte %ld was overwritten",
                          kind_name(a.kind), (unsigned long) user, a.bytes, (long) i - (long) kGuard);
            std::memset(a.raw, kCanary, kGuard);
            return buf;
        }
    }
    for (size_t i = 0; i < a.tail; i++) {
        if (tail[i] != kCanary) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "write past the end of the %s allocation at 0x%lx (%zu bytes): byte %zu was overwritten",
                          kind_name(a.kind), (unsigned long) user, a.bytes, a.bytes + i);
            std::memset(a.raw + kGuard + a.bytes, kCanary, a.tail);
            return buf;
        }
    }
    return "";
}

}  // namespace

// Canaries catch small overruns and report them; the inaccessible pages around each allocation
// turn large ones into an immediate fault rather than silent damage to the emulator's own heap.
uintptr_t allocate(size_t bytes, MemoryKind kind) {
    size_t page = (size_t) sysconf(_SC_PAGESIZE);
    size_t inner = (kGuard + bytes + kGuard + page - 1) / page * page;
    size_t mapped = page + inner + page;
    void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return 0;
    auto* mapping = static_cast<unsigned char*>(m);
    mprotect(mapping, page, PROT_NONE);
    mprotect(mapping + page + inner, page, PROT_NONE);
    unsigned char* raw = mapping + page;
    size_t total = inner;
    std::memset(raw, kCanary, kGuard);
    std::memset(raw + kGuard, 0xFF, bytes);
    std::memset(raw + kGuard + bytes, kCanary, total - kGuard - bytes);
    uintptr_t user = reinterpret_cast<uintptr_t>(raw + kGuard);
    std::lock_guard<std::mutex> lock(mutex);
    allocations[user] = Allocation{mapping, mapped, raw, bytes, total - kGuard - bytes, kind};
    if (kind == MemoryKind::DEVICE) device_total += bytes;
    return user;
}

std::string release(uintptr_t address, MemoryKind kind) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = allocations.find(address);
    if (it == allocations.end() || it->second.kind != kind) {
        char buf[120];
        std::snprintf(buf, sizeof buf, "0x%lx is not the start of a live %s allocation (double free?)", (unsigned long) address, kind_name(kind));
        return buf;
    }
    std::string damage = check_one(it->first, it->second);
    if (kind == MemoryKind::DEVICE) device_total -= it->second.bytes;
    munmap(it->second.mapping, it->second.mapped);
    allocations.erase(it);
    return damage;
}

std::string check_range(uintptr_t address, size_t bytes, MemoryKind kind) {
    std::lock_guard<std::mutex> lock(mutex);
    auto* a = containing(address);
    char buf[200];
    if (a == nullptr || a->second.kind != kind) {
        std::snprintf(buf, sizeof buf, "0x%lx is not inside a live %s allocation", (unsigned long) address, kind_name(kind));
        return buf;
    }
    if (address + bytes > a->first + a->second.bytes) {
        std::snprintf(buf, sizeof buf, "%zu bytes at offset %lu overrun the %s allocation at 0x%lx (%zu bytes)", bytes,
                      (unsigned long) (address - a->first), kind_name(kind), (unsigned long) a->first, a->second.bytes);
        return buf;
    }
    return "";
}

std::string check_device_pointer(uintptr_t address) {
    if (address == 0) return "";
    std::lock_guard<std::mutex> lock(mutex);
    auto* a = containing(address);
    if (a == nullptr || a->second.kind != MemoryKind::DEVICE) {
        char buf[120];
        std::snprintf(buf, sizeof buf, "0x%lx is not a device pointer (no live device allocation holds it)", (unsigned long) address);
        return buf;
    }
    return "";
}

std::string check_canaries(uintptr_t address) {
    std::lock_guard<std::mutex> lock(mutex);
    if (address != 0) {
        auto* a = containing(address);
        return a == nullptr ? "" : check_one(a->first, a->second);
    }
    for (auto& [user, a] : allocations) {
        std::string damage = check_one(user, a);
        if (!damage.empty()) return damage;
    }
    return "";
}

size_t device_bytes_in_use() {
    std::lock_guard<std::mutex> lock(mutex);
    return device_total;
}

}  // namespace ppsd_emu
