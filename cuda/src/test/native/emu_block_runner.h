// Runs a kernel grid on the calling OS thread: blocks one after another, the threads of a block as
// cooperative fibers with their own stacks.
#pragma once

#include <string>

#include "emu_kernel_runtime.h"
#include "emu_registry.h"

namespace ppsd_emu {

// Returns an empty string on success, else what went wrong (deadlock, bad shuffle mask, ...).
std::string run_grid(const KernelInfo& kernel, void** args, dim3 grid, dim3 block);

}  // namespace ppsd_emu
