#pragma once
// Per-thread scratch memory that is kept between calls. The convolution's column matrices are
// tens of MB; allocating them afresh in every call costs a page fault per 4 KiB on each step.
// Scratch never outlives a call (nothing in a Context points into it), so one set per thread
// serves every layer that thread runs, and pipeline stages on different threads never share it.
#include <cstddef>

namespace tspipe::cpu {

/// Slots a layer may use at once; a slot's memory is valid until the same thread asks for that
/// slot again. Contents are uninitialised.
enum class ScratchSlot { columns = 0, gathered = 1, count_ = 2 };

/// At least `count` 64-byte-aligned floats in this thread's `slot`.
float* scratch(ScratchSlot slot, size_t count);

}  // namespace tspipe::cpu
