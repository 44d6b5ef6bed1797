// Fibers and the block scheduler of the emulator.
//
// Every thread of a block is a fiber with its own stack. The scheduler resumes the fibers in
// thread order; a fiber runs until it finishes or reaches a synchronisation point
// (__syncthreads, __syncwarp, a shuffle), where it records its arrival and yields. The last thread
// to arrive releases the barrier. Shuffles exchange values through per-warp slots, written before
// the warp barrier and read after it, so every lane sees the values its partners held at the
// shuffle, as on the hardware. A full scheduler pass in which no fiber makes progress is a
// deadlock (a barrier inside divergent code) and fails the launch instead of hanging.
//
// The context switch is a few lines of x86-64 assembly: it saves the callee-saved registers and
// the FP control words on the old stack and restores them from the new one. ucontext would do the
// same with a signal-mask system call on every switch, which costs more than the kernels' work.
#include "emu_block_runner.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#if !defined(__x86_64__)
#error "the emulator's fiber switch is written for x86-64"
#endif

extern "C" void ppsd_emu_switch(void** save_sp, void* load_sp);
extern "C" void ppsd_emu_fiber_entry();

asm(R"(
    .text
    .globl ppsd_emu_switch
    .hidden ppsd_emu_switch
    .type ppsd_emu_switch, @function
ppsd_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size ppsd_emu_switch, .-ppsd_emu_switch
)");

namespace ppsd_emu {

thread_local uint3 thread_index;
thread_local uint3 block_index;
thread_local dim3 block_dim;
thread_local dim3 grid_dim;

namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr int kWarp = 32;

struct Fiber {
    void* sp;
    uint3 index;
    int linear;
    bool done;
};

struct Warp {
    int live;                 // threads of the warp that have not exited
    unsigned int live_mask;
    unsigned int exists_mask; // lanes that exist in this block (the last warp may be partial)
    int arrived;
    unsigned int generation;
    unsigned long long slots[2][kWarp];
};

struct Block {
    const KernelInfo* kernel;
    void** args;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    int live;
    int barrier_arrived;
    unsigned int barrier_generation;
    int current;
    void* scheduler_sp;
    bool progressed;
    std::string error;
};

thread_local Block* running = nullptr;

// Fiber stacks of this OS thread, kept across launches. Each has a PROT_NONE guard page below it,
// so a stack overflow faults instead of corrupting a neighbour.
struct StackPool {
    std::vector<char*> regions;
    size_t page = (size_t) sysconf(_SC_PAGESIZE);

    char* top(size_t i) {
        while (regions.size() <= i) {
            void* p = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (p == MAP_FAILED) return nullptr;
            mprotect(p, page, PROT_NONE);
            regions.push_back(static_cast<char*>(p));
        }
        return regions[i] + page + kStackBytes;
    }

    ~StackPool() {
        for (char* r : regions) munmap(r, kStackBytes + page);
    }
};

thread_local StackPool stacks;

void* initial_stack(char* top) {
    auto* sp = reinterpret_cast<unsigned long long*>(top);
    *--sp = 0;  // return address of the entry function, never used: it does not return
    *--sp = reinterpret_cast<unsigned long long>(&ppsd_emu_fiber_entry);
    for (int i = 0; i < 6; i++) *--sp = 0;  // rbp rbx r12 r13 r14 r15
    unsigned int mxcsr = __builtin_ia32_stmxcsr();
    unsigned short fpucw;
    asm volatile("fnstcw %0" : "=m"(fpucw));
    --sp;
    *sp = 0;
    std::memcpy(sp, &mxcsr, 4);
    std::memcpy(reinterpret_cast<char*>(sp) + 4, &fpucw, 2);
    return sp;
}

void yield_to_scheduler() {
    Block* b = running;
    ppsd_emu_switch(&b->fibers[b->current].sp, b->scheduler_sp);
}

[[noreturn]] void fail(const std::string& message) {
    Block* b = running;
    if (b->error.empty()) b->error = message;
    for (;;) yield_to_scheduler();  // the scheduler abandons the block and never resumes us
}

void release_if_complete(Block* b) {
    if (b->barrier_arrived > 0 && b->barrier_arrived == b->live) {
        b->barrier_arrived = 0;
        b->barrier_generation++;
    }
}

void release_warp_if_complete(Warp& w) {
    if (w.arrived > 0 && w.arrived == w.live) {
        w.arrived = 0;
        w.generation++;
    }
}

Warp& my_warp(Block* b, int* lane) {
    int linear = b->fibers[b->current].linear;
    *lane = linear % kWarp;
    return b->warps[linear / kWarp];
}

void check_mask(Warp& w, unsigned int mask, int lane, const char* what) {
    if (((mask >> lane) & 1u) == 0) {
        fail(std::string(what) + ": calling lane " + std::to_string(lane) + " is not in the mask");
    }
    if ((mask & w.live_mask) != w.live_mask) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: mask 0x%08x leaves out live lanes 0x%08x (partial-warp synchronisation is not emulated)",
                      what, mask, w.live_mask & ~mask);
        fail(buf);
    }
    unsigned int exited = w.exists_mask & ~w.live_mask;
    if ((mask & exited) != 0) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: mask 0x%08x names lanes that have exited (0x%08x)", what, mask, mask & exited);
        fail(buf);
    }
}

// Waits until every live lane of the warp has arrived; returns the generation arrived at.
unsigned int warp_barrier(Block* b, Warp& w) {
    unsigned int generation = w.generation;
    w.arrived++;
    b->progressed = true;
    if (w.arrived == w.live) {
        w.arrived = 0;
        w.generation++;
        return generation;
    }
    while (w.generation == generation) yield_to_scheduler();
    b->progressed = true;
    return generation;
}

}  // namespace

int lane_id() {
    Block* b = running;
    return b->fibers[b->current].linear % kWarp;
}

void sync_block() {
    Block* b = running;
    unsigned int generation = b->barrier_generation;
    b->barrier_arrived++;
    b->progressed = true;
    if (b->barrier_arrived == b->live) {
        b->barrier_arrived = 0;
        b->barrier_generation++;
        return;
    }
    while (b->barrier_generation == generation) yield_to_scheduler();
    b->progressed = true;
}

void sync_warp(unsigned int mask) {
    Block* b = running;
    int lane;
    Warp& w = my_warp(b, &lane);
    check_mask(w, mask, lane, "__syncwarp");
    warp_barrier(b, w);
}

unsigned long long warp_exchange(unsigned int mask, unsigned long long value, int src) {
    Block* b = running;
    int lane;
    Warp& w = my_warp(b, &lane);
    check_mask(w, mask, lane, "warp shuffle");
    // Double-buffered slots: a lane can only write the next generation's slot after every lane
    // has arrived there, i.e. after every lane has read this generation's value.
    unsigned int slot = w.generation & 1u;
    w.slots[slot][lane] = value;
    warp_barrier(b, w);
    if (src < 0 || src >= kWarp || ((w.exists_mask >> src) & 1u) == 0) return value;
    return w.slots[slot][src];
}

}  // namespace ppsd_emu

extern "C" void ppsd_emu_fiber_entry() {
    using namespace ppsd_emu;
    Block* b = running;
    b->kernel->invoke(b->kernel->fn, b->args);
    Fiber& f = b->fibers[b->current];
    f.done = true;
    b->live--;
    Warp& w = b->warps[f.linear / kWarp];
    w.live--;
    w.live_mask &= ~(1u << (f.linear % kWarp));
    b->progressed = true;
    // Threads that exit no longer hold back a barrier the others wait at.
    release_if_complete(b);
    release_warp_if_complete(w);
    ppsd_emu_switch(&f.sp, b->scheduler_sp);
    __builtin_unreachable();
}

namespace ppsd_emu {

namespace {

std::string run_block(Block& b, dim3 block) {
    int n = (int) (block.x * block.y * block.z);
    b.fibers.resize(n);
    b.warps.assign((n + kWarp - 1) / kWarp, Warp{});
    for (int i = 0; i < n; i++) {
        char* top = stacks.top(i);
        if (top == nullptr) return "cannot map a fiber stack";
        Fiber& f = b.fibers[i];
        f.sp = initial_stack(top);
        f.linear = i;
        f.index = uint3{(unsigned) (i % block.x), (unsigned) ((i / block.x) % block.y), (unsigned) (i / (block.x * block.y))};
        f.done = false;
        Warp& w = b.warps[i / kWarp];
        w.live++;
        w.live_mask |= 1u << (i % kWarp);
        w.exists_mask |= 1u << (i % kWarp);
    }
    b.live = n;
    b.barrier_arrived = 0;
    b.barrier_generation = 0;
    while (b.live > 0) {
        b.progressed = false;
        for (int i = 0; i < n; i++) {
            Fiber& f = b.fibers[i];
            if (f.done) continue;
            b.current = i;
            thread_index = f.index;
            ppsd_emu_switch(&b.scheduler_sp, f.sp);
            if (!b.error.empty()) return b.error;
        }
        if (b.live > 0 && !b.progressed) {
            int at_barrier = b.barrier_arrived, at_warp = 0;
            for (const Warp& w : b.warps) at_warp += w.arrived;
            return "deadlock: " + std::to_string(b.live) + " live threads, " + std::to_string(at_barrier)
                   + " waiting at __syncthreads and " + std::to_string(at_warp)
                   + " at a warp synchronisation (a barrier in divergent code?)";
        }
    }
    return "";
}

}  // namespace

std::string run_grid(const KernelInfo& kernel, void** args, dim3 grid, dim3 block) {
    Block b;
    b.kernel = &kernel;
    b.args = args;
    Block* outer = running;
    running = &b;
    block_dim = block;
    grid_dim = grid;
    std::string error;
    for (unsigned z = 0; z < grid.z && error.empty(); z++) {
        for (unsigned y = 0; y < grid.y && error.empty(); y++) {
            for (unsigned x = 0; x < grid.x && error.empty(); x++) {
                block_index = uint3{x, y, z};
                b.error.clear();
                error = run_block(b, block);
                if (!error.empty()) {
                    char where[96];
                    std::snprintf(where, sizeof where, " (block %u,%u,%u)", x, y, z);
                    error += where;
                }
            }
        }
    }
    running = outer;
    return error;
}

}  // namespace ppsd_emu
