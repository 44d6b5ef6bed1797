// "Device" and pinned host memory of the emulator: host allocations surrounded by canary bytes,
// registered by address so that copies and kernel pointer arguments can be bounds-checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ppsd_emu {

enum class MemoryKind { DEVICE, PINNED_HOST };

// Returns the user address, or 0 when the host is out of memory. Contents start as 0xFF bytes
// (NaN as floats), so a kernel that reads memory nobody wrote produces NaNs, not plausible zeros.
uintptr_t allocate(size_t bytes, MemoryKind kind);

// Frees an allocation made with `kind`; returns "" or what is wrong (unknown pointer, damaged canaries).
std::string release(uintptr_t address, MemoryKind kind);

// "" when [address, address + bytes) lies inside one live allocation of `kind`, else why not.
std::string check_range(uintptr_t address, size_t bytes, MemoryKind kind);

// "" when `address` is 0 or inside (or one past the end of) a live device allocation.
std::string check_device_pointer(uintptr_t address);

// Checks the canaries of the allocation holding `address` (device or host), or of all allocations
// when `address` is 0; repairs them after reporting, so one overrun is reported once.
std::string check_canaries(uintptr_t address);

size_t device_bytes_in_use();

}  // namespace ppsd_emu
