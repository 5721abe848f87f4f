#include <tspipe/cpu/workspace.hpp>

#include <array>
#include <memory>
#include <new>

namespace tspipe::cpu {
namespace {

struct AlignedDelete {
  void operator()(float* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
};

struct Slot {
  std::unique_ptr<float, AlignedDelete> memory;
  size_t capacity = 0;
};

}  // namespace

float* scratch(ScratchSlot slot, size_t count) {
  thread_local std::array<Slot, static_cast<size_t>(ScratchSlot::count_)> slots;
  Slot& s = slots[static_cast<size_t>(slot)];
  if (count > s.capacity) {
    s.memory.reset();  // free first: the old and new blocks need not coexist
    s.memory.reset(static_cast<float*>(::operator new(count * sizeof(float), std::align_val_t{64})));
    s.capacity = count;
  }
  return s.memory.get();
}

}  // namespace tspipe::cpu
