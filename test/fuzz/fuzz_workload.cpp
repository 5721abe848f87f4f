// Fuzz target for the whole schedule path on arbitrary numbers: a workload and cost table decoded
// from the input (any int or double, with INT_MAX, inf, NaN, 1e308 and the limits' edges made
// likely), then check → generate (every generator) → validate → simulate in order and dynamically;
// the rest of the input is a schedule file, validated against that workload and, when valid,
// simulated. Refused input must come back as a failed Result with a message, consistently (a
// workload check() refuses, every generator refuses); accepted input must give schedules that
// validate and finite simulated times (a student-only one also once filled with a teacher).
// Anything else aborts; ASan and UBSan findings are fatal.
//
// Input layout (make_workload_corpus.py writes seeds in it): a flags byte (bit 0 momentum teacher,
// bits 1-2 the split, 3 choose M, 4 choose the split, 5 no teacher, 6 a loss per micro-batch, 7
// choose halves too); ten integers (stages,
// micro-batches, views, batches, staleness, warm-up, teacher versions, look-ahead, largest M, chunks
// per device); a virtual-stage byte (bit 0 the v-shape placement, bit 1 choose the chunks); two
// reals (memory cap, per-action overhead); a byte R: R % 17 == 0 takes one real, the teacher's
// cost ratio, else R % 17 stage rows of ten reals (StageCost's fields in cost-table column order);
// the rest is schedule text (or CSV). An integer is a selector byte: < 0xC0 the small value
// byte % 10 − 1, < 0xE0 one of kSpecialInts, else four raw bytes. A real likewise: < 0x80 the
// value (byte % 16) / 4, < 0xE0 one of kSpecialReals, else eight raw bytes.
#include <tspipe/planning/generate.hpp>
#include <tspipe/planning/teacher_fill.hpp>
#include <tspipe/schedule/cost_table.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/dynamic.hpp>

#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

namespace {

using namespace tspipe;
using namespace tspipe::schedule;

constexpr int kSpecialInts[] = {0, 1, 2, 7, 255, 4095, kMaxStages, kMaxStages + 1, kMaxCount - 1, kMaxCount,
                                kMaxCount + 1, 1 << 30, INT_MAX - 1, INT_MAX, INT_MIN, -2};
constexpr double kInf = std::numeric_limits<double>::infinity();
const double kSpecialReals[] = {kInf, -kInf, std::nan(""), 1e308, std::numeric_limits<double>::max(), kMaxValue,
                                std::nextafter(kMaxValue, kInf), -0.0, std::numeric_limits<double>::denorm_min(),
                                1e-300, -1.0, 0.5, 1.0, 3.0, 1e9, 1e17};

// Workloads past this many actions are skipped: each input must stay fast (the search simulates
// a few dozen candidates of it).
constexpr std::uint64_t kMaxFuzzedActions = 6000;

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  bool exhausted() const { return at_ >= size_; }
  int integer() {
    if (exhausted()) return 1;
    const std::uint8_t s = byte();
    if (s < 0xC0) return s % 10 - 1;
    if (s < 0xE0) return kSpecialInts[(s - 0xC0) % std::size(kSpecialInts)];
    std::int32_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  double real() {
    if (exhausted()) return 1.0;
    const std::uint8_t s = byte();
    if (s < 0x80) return (s % 16) / 4.0;
    if (s < 0xE0) return kSpecialReals[(s - 0x80) % std::size(kSpecialReals)];
    double v = 0.0;
    raw(&v, sizeof v);
    return v;
  }
  std::string_view rest() const {
    return at_ < size_ ? std::string_view(reinterpret_cast<const char*>(data_ + at_), size_ - at_) : std::string_view{};
  }

 private:
  void raw(void* out, std::size_t n) {
    std::uint8_t buffer[8] = {};
    for (std::size_t i = 0; i < n; ++i) buffer[i] = byte();
    std::memcpy(out, buffer, n);
  }
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// Aborts naming the broken property, so a crash report says which one.
[[noreturn]] void broken(const char* property, int line) {
  std::fprintf(stderr, "fuzz_workload.cpp:%d: broken: %s\n", line, property);
  std::abort();
}
#define REQUIRE_PROPERTY(condition) ((condition) ? void() : broken(#condition, __LINE__))

bool finite_time(const sim::SimulationResult& r) {
  return std::isfinite(r.makespan) && r.makespan >= 0.0 && std::isfinite(r.time_per_batch) && std::isfinite(r.utilisation);
}

/// A schedule that validated must simulate, in order and dynamically, to finite times.
void simulate_valid(const Schedule& s, const Workload& w) {
  const auto in_order = sim::simulate(s, w);
  REQUIRE_PROPERTY(in_order.ok() && finite_time(in_order.value()));
  std::size_t timed = 0;
  for (const auto& device : in_order.value().timeline) timed += device.size();
  REQUIRE_PROPERTY(timed == s.num_actions());
  const auto dynamic = sim::simulate_dynamic(s, w);
  REQUIRE_PROPERTY(dynamic.ok() && finite_time(dynamic.value()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1u << 16)) return 0;
  Bytes in(data, size);
  const std::uint8_t flags = in.byte();
  Workload w;
  w.teacher = (flags >> 5) & 1 ? TeacherKind::none : (flags & 1) ? TeacherKind::momentum : TeacherKind::frozen;
  w.split = static_cast<BackwardSplit>((flags >> 1) % 3);
  w.choose_micro_batches = (flags >> 3) & 1;
  w.choose_split = (flags >> 4) & 1;
  w.per_micro_batch_loss = (flags >> 6) & 1;
  w.choose_halves = (flags >> 7) & 1;
  w.stages = in.integer();
  w.micro_batches = in.integer();
  w.views = in.integer();
  w.batches = in.integer();
  w.staleness = in.integer();
  w.warmup = in.integer();
  w.teacher_versions = in.integer();
  w.teacher_lookahead = in.integer();
  w.max_micro_batches = in.integer();
  w.chunks = in.integer();
  const std::uint8_t chunk_flags = in.byte();
  w.chunk_placement = chunk_flags & 1 ? ChunkPlacement::v_shape : ChunkPlacement::interleaved;
  w.choose_chunks = (chunk_flags >> 1) & 1;
  w.memory_cap = in.real();
  w.costs.per_action_overhead = in.real();
  if (const int rows = in.byte() % 17; rows == 0) {
    const double ratio = in.real();
    const double overhead = w.costs.per_action_overhead;
    w.costs = CostModel::teacher_ratio(std::min(w.stages, 64), ratio);
    w.costs.per_action_overhead = overhead;
  } else {
    w.costs.stages.resize(static_cast<std::size_t>(rows));
    for (StageCost& c : w.costs.stages)
      for (const auto& column : detail::kCostColumns) c.*(column.field) = in.real();
  }

  // Refused: with a message, and by every generator too.
  if (Status ok = w.check(); !ok) {
    REQUIRE_PROPERTY(!ok.message().empty());
    for (auto name : planning::generator_names()) REQUIRE_PROPERTY(!planning::generate(name, w).ok());
    REQUIRE_PROPERTY(!sim::simulate(Schedule{}, w).ok());
    REQUIRE_PROPERTY(!validate(Schedule{}, w).empty());
    return 0;
  }
  if (w.max_actions() > kMaxFuzzedActions) return 0;

  for (auto name : planning::generator_names()) {
    auto g = planning::generate(name, w);
    if (!g) {  // a generator may refuse a shape it does not make (tspipe-paper's M, a memory cap)
      REQUIRE_PROPERTY(!g.message().empty());
      continue;
    }
    const Generated& generated = g.value();
    REQUIRE_PROPERTY(generated.workload.check().ok());
    REQUIRE_PROPERTY(validate(generated.schedule, generated.workload, 1).empty());
    simulate_valid(generated.schedule, generated.workload);
    // A student-only schedule: fill a frozen teacher into it.
    if (!generated.workload.has_teacher()) {
      Workload target = generated.workload;
      target.teacher = TeacherKind::frozen;
      auto filled = planning::fill_teacher(generated.schedule, target);
      if (!filled) {
        REQUIRE_PROPERTY(!filled.message().empty());
        continue;
      }
      REQUIRE_PROPERTY(validate(filled.value().filled.schedule, target, 1).empty());
      simulate_valid(filled.value().filled.schedule, target);
    }
  }

  // The rest as a schedule file, against this workload.
  const std::string_view text = in.rest();
  auto parsed = text.rfind(kScheduleCsvHeader, 0) == 0 ? parse_csv(text) : parse_text(text);
  if (!parsed) {
    REQUIRE_PROPERTY(!parsed.message().empty());
    return 0;
  }
  if (validate(parsed.value(), w, 4).empty()) simulate_valid(parsed.value(), w);
  return 0;
}
