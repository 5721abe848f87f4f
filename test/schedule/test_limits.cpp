// Hostile numbers and sizes at the schedule layer's library boundary (schedule/limits.hpp): every
// non-finite, negative, overflowing or oversized number is refused by name before anything runs;
// the largest accepted values still generate, validate and simulate to finite times; parsers stay
// bounded on huge inputs and quote only a short excerpt; the dynamic order and the list scheduler
// agree with straightforward reference implementations of the rules they speed up.
#include <doctest/doctest.h>
#include <tspipe/planning/evaluate.hpp>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/cost_table.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/dynamic.hpp>

#include <climits>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <string>

using namespace tspipe;
using namespace tspipe::schedule;
using namespace tspipe::planning;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string check_message(const std::function<void(Workload&)>& mutate, Workload w = ssl_workload(2)) {
  mutate(w);
  return w.check().message();
}

}  // namespace

TEST_CASE("Workload::check refuses every non-finite, negative or overflowing number by name and value") {
  const std::pair<std::function<void(Workload&)>, const char*> cases[] = {
      {[](Workload& w) { w.costs.stages[0].teacher_forward = kInf; }, "stage 0 teacher_forward = inf"},
      {[](Workload& w) { w.costs.stages[1].student_forward = kNaN; }, "stage 1 student_forward = nan"},
      {[](Workload& w) { w.costs.stages[0].student_backward = 1e308; }, "stage 0 student_backward = 1e+308"},
      {[](Workload& w) { w.costs.stages[1].transfer = kInf; }, "stage 1 transfer = inf"},
      {[](Workload& w) { w.costs.stages[0].loss = -kInf; }, "stage 0 loss = -inf"},
      {[](Workload& w) { w.costs.stages[0].activation_memory = 2e18; }, "activation_memory = 2e+18"},
      {[](Workload& w) { w.costs.stages[0].backward_input_share = 1.5; }, "backward_input_share = 1.5 is invalid (need a value in [0, 1])"},
      {[](Workload& w) { w.costs.per_action_overhead = kInf; }, "per_action_overhead = inf"},
      {[](Workload& w) { w.memory_cap = kInf; }, "memory_cap = inf"},
      {[](Workload& w) { w.memory_cap = kNaN; }, "memory_cap = nan"},
      {[](Workload& w) { w.staleness = INT_MAX; }, "staleness = 2147483647 is invalid (need 0 to 16777216)"},
      {[](Workload& w) { w.warmup = INT_MAX; }, "warmup = 2147483647"},
      {[](Workload& w) { w.teacher_versions = INT_MAX; }, "teacher_versions = 2147483647"},
      {[](Workload& w) { w.teacher_lookahead = INT_MAX; }, "teacher_lookahead = 2147483647"},
      {[](Workload& w) { w.max_micro_batches = INT_MAX; }, "max_micro_batches = 2147483647"},
      {[](Workload& w) { w.micro_batches = kMaxCount + 1; }, "micro_batches = 16777217"},
      {[](Workload& w) { w.batches = INT_MIN; }, "batches = -2147483648"},
      {[](Workload& w) { w.views = INT_MAX; }, "views = 2147483647"},
      // Each count in range, but together more actions than 32-bit positions can number.
      {[](Workload& w) { w.batches = kMaxCount; w.micro_batches = 1 << 10; }, "more than the 2147483647 a schedule can index"},
      {[](Workload& w) { w.batches = kMaxCount; w.micro_batches = kMaxCount; w.views = kMaxCount; }, "more than the 2147483647"},
  };
  for (const auto& [mutate, why] : cases) {
    const std::string message = check_message(mutate);
    INFO("message: ", message);
    CHECK(contains(message, why));
  }
  Workload wide = kd_workload(kMaxStages + 1);
  CHECK(contains(wide.check().message(), "stages = 4097 is invalid (need 1 to 4096)"));
  // The bounds themselves are accepted.
  CHECK(check_message([](Workload& w) { w.staleness = kMaxCount; w.warmup = kMaxCount; w.teacher_lookahead = kMaxCount; }).empty());
  CHECK(check_message([](Workload& w) { for (auto& c : w.costs.stages) c.teacher_forward = c.transfer = kMaxValue; }).empty());
  // choose_micro_batches counts the largest M the search may pick.
  Workload searching = kd_workload(64);
  searching.batches = kMaxCount / 64;
  searching.micro_batches = 1;
  CHECK(searching.check().ok());
  searching.choose_micro_batches = true;
  CHECK(contains(searching.check().message(), "a schedule can index"));
}

TEST_CASE("a library caller's infinite or overflowing costs are errors from every generator and simulator, never a crash") {
  for (double bad : {kInf, kNaN, 1e308, -1.0}) {
    Workload w = kd_workload(2);
    w.costs.stages[1].teacher_forward = bad;
    for (auto name : generator_names()) {
      INFO(std::string(name), " with cost ", bad);
      const auto g = generate(name, w);
      REQUIRE_FALSE(g.ok());
      CHECK(contains(g.message(), "stage 1 teacher_forward"));
    }
    // A schedule made for good costs, then simulated and validated with the bad ones.
    auto good = generate("gpipe", kd_workload(2));
    REQUIRE(good.ok());
    const auto in_order = sim::simulate(good.value().schedule, w);
    const auto dynamic = sim::simulate_dynamic(good.value().schedule, w);
    REQUIRE_FALSE(in_order.ok());
    REQUIRE_FALSE(dynamic.ok());
    CHECK(contains(in_order.message(), "teacher_forward"));
    CHECK(contains(dynamic.message(), "teacher_forward"));
    const auto violations = validate(good.value().schedule, w);
    REQUIRE(violations.size() == 1);
    CHECK(violations.front().rule == Rule::workload);
    CHECK_THROWS_AS(DynamicOrder(good.value().schedule, w), Error);
  }
}

TEST_CASE("a per-action cost function returning a non-finite or negative cost fails the simulation, naming the action") {
  const Workload w = kd_workload(2);
  const auto g = generate("1f1b", w);
  REQUIRE(g.ok());
  for (double bad : {kInf, kNaN, -1.0, 1e300}) {
    const sim::ActionCost cost = [&](const Action& a) { return a.kind == ActionKind::Loss ? bad : w.action_cost(a); };
    const auto in_order = sim::simulate(g.value().schedule, w, cost);
    const auto dynamic = sim::simulate_dynamic(g.value().schedule, w, cost);
    REQUIRE_FALSE(in_order.ok());
    REQUIRE_FALSE(dynamic.ok());
    CHECK(contains(in_order.message(), "LOSS:0 costs " + shown(bad)));
    CHECK(contains(dynamic.message(), "LOSS:0 costs " + shown(bad)));
  }
}

TEST_CASE("the largest accepted numbers generate, validate and simulate to finite times") {
  SUBCASE("every cost at 1e18") {
    Workload w = ssl_workload(3);
    for (auto& c : w.costs.stages)
      for (const auto& column : schedule::detail::kCostColumns)
        c.*(column.field) = column.field == &StageCost::backward_input_share ? 1.0 : kMaxValue;
    w.costs.per_action_overhead = kMaxValue;
    for (auto name : generator_names()) {
      INFO(std::string(name));
      const auto e = evaluate(name, w, Dispatch::dynamic);
      REQUIRE_MESSAGE(e.ok(), e.message());
      CHECK(std::isfinite(e.value().result.makespan));
      CHECK(std::isfinite(e.value().result.time_per_batch));
    }
  }
  SUBCASE("staleness, warm-up and look-ahead at 2^24 (no signed overflow in b + δ)") {
    Workload ssl = ssl_workload(2);
    ssl.staleness = ssl.warmup = kMaxCount;
    ssl.batches = 5;
    Workload kd = kd_workload(3);
    kd.teacher_lookahead = kMaxCount;
    kd.costs.stages.back().teacher_output_memory = 1.0;
    kd.memory_cap = 1e6;  // the held-outputs search over H ≤ look-ahead
    for (const Workload& w : {ssl, kd})
      for (auto name : {"gpipe", "1f1b", "sequential", "tspipe"}) {
        INFO(name, " momentum=", w.momentum());
        const auto e = evaluate(name, w);
        REQUIRE_MESSAGE(e.ok(), e.message());
        CHECK(std::isfinite(e.value().result.time_per_batch));
      }
  }
}

TEST_CASE("memory-capped search: a look-ahead beyond the horizon is the horizon; past 16 held batches it doubles") {
  Workload w = kd_workload(3);
  w.batches = 8;
  w.costs.stages.back().teacher_output_memory = 2.0;
  w.memory_cap = 100.0;
  w.teacher_lookahead = 7;  // = horizon − 1: every held count up to it is tried
  const auto reference = choose_tspipe(w);
  REQUIRE_MESSAGE(reference.ok(), reference.message());
  w.teacher_lookahead = kMaxCount;
  const auto huge = choose_tspipe(w);
  REQUIRE_MESSAGE(huge.ok(), huge.message());
  CHECK(huge.value().candidates_tried == reference.value().candidates_tried);
  CHECK(huge.value().time_per_batch == reference.value().time_per_batch);
  CHECK(huge.value().options.held_teacher_batches == reference.value().options.held_teacher_batches);
  CHECK(huge.value().workload.micro_batches == reference.value().workload.micro_batches);

  // A long horizon (the warm-up extends it) and a huge look-ahead: 0…16, 32, 64, 128 and the
  // horizon's end, not one candidate per batch.
  w.batches = w.warmup = 200;
  const auto options = planning::detail::option_candidates(w);
  std::vector<int> held;
  for (const auto& o : options)
    if (o.order == CandidateOrder::list_scheduled && o.lifo_backward && o.filler_overrun == 0.0)
      held.push_back(o.held_teacher_batches);
  CHECK(held == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 32, 64, 128, 199});
}

TEST_CASE("cost tables: non-finite and out-of-range values are refused, quoting the cell") {
  const std::pair<const char*, const char*> cases[] = {
      {"stage,teacher_forward\n0,inf\n", "'teacher_forward' = 'inf' is not a non-negative finite number"},
      {"stage,teacher_forward\n0,-inf\n", "'teacher_forward' = '-inf'"},
      {"stage,transfer\n0,nan\n", "'transfer' = 'nan'"},
      {"stage,transfer\n0,1e308\n", "'transfer' = '1e308'"},
      {"stage,loss\n0,1e19\n", "at most 1e18"},
      {"stage,backward_input_share\n0,1.5\n", "'backward_input_share' = '1.5' is not a number in [0, 1]"},
      {"stage,loss\n4096,1\n", "stage 4096 is implausibly large (at most 4095)"},
  };
  for (const auto& [text, why] : cases) {
    const auto parsed = parse_cost_csv(text);
    INFO("message: ", parsed.message());
    REQUIRE_FALSE(parsed.ok());
    CHECK(contains(parsed.message(), why));
  }
  // The largest accepted value reads back.
  const auto largest = parse_cost_csv("stage,transfer\n0,1e18\n");
  REQUIRE(largest.ok());
  CHECK(largest.value().stages[0].transfer == 1e18);
}

TEST_CASE("parsers: huge inputs give short errors, and many lines or cells cost no memory per line") {
  // A million empty lines after a header: read one at a time.
  const std::string newlines = "stage,loss\n" + std::string(1'000'000, '\n');
  CHECK(contains(parse_cost_csv(newlines).message(), "no stage rows"));
  CHECK(contains(parse_cost_csv(std::string(1'000'000, '\n')).message(), "empty input"));
  const auto empty_text = parse_text(std::string(1'000'000, '\n'));
  REQUIRE(empty_text.ok());
  CHECK(empty_text.value().devices.empty());

  // A line of a million commas is counted, not split.
  const auto commas = parse_cost_csv("stage,loss\n0" + std::string(1'000'000, ',') + "\n");
  CHECK(contains(commas.message(), "has 1000001 columns, the header 2"));
  const auto header = parse_cost_csv("stage" + std::string(1'000'000, ',') + "\n");
  CHECK(contains(header.message(), "unknown column ''"));

  // A megabyte token, cell or header is quoted by its first 40 bytes and its length.
  const std::string big(1 << 20, 'x');
  for (const std::string& message :
       {parse_text("d0: FS:" + big + "\n").message(), parse_csv("device,position,token\n0,0," + big + "\n").message(),
        parse_csv(big).message(), parse_cost_csv("stage,loss\n0," + big + "\n").message(), parse_cost_csv(big).message(),
        parse_text(big).message()}) {
    INFO("message: ", message.substr(0, 300));
    CHECK_FALSE(message.empty());
    CHECK(message.size() < 300);
    CHECK(contains(message, "bytes)"));
  }
  // More device lines or a larger device number than a workload can have.
  std::string many;
  for (int j = 0; j <= kMaxStages; ++j) many += "d" + std::to_string(j) + ":\n";
  CHECK(contains(parse_text(many).message(), "more than 4096 device lines"));
  CHECK(contains(parse_csv("device,position,token\n4096,0,FS:0.0.0.0\n").message(), "device number 4096 too large"));
}

TEST_CASE("quote: short inputs verbatim, long ones cut with their length, control bytes escaped") {
  CHECK(quote("abc") == "'abc'");
  CHECK(quote(std::string_view("a\0b\n\x1b", 5)) == "'a\\x00b\\x0a\\x1b'");
  CHECK(quote(std::string(100, 'y')) == "'" + std::string(kMaxQuoted, 'y') + "'… (100 bytes)");
  CHECK(shown(1e308) == "1e+308");
  CHECK(shown(kInf) == "inf");
}

TEST_CASE("the dynamic order refuses schedules it was not meant for, by name, instead of indexing past them") {
  const Workload w = kd_workload(2);
  auto g = generate("gpipe", w);
  REQUIRE(g.ok());
  Schedule outside = g.value().schedule;
  outside.devices[0].push_back(student_forward(0, 99, 0, 0));
  CHECK_THROWS_WITH_AS(DynamicOrder(outside, w), doctest::Contains("FS:0.99.0.0 does not belong to the workload"), Error);
  Schedule twice = g.value().schedule;
  twice.devices[1].push_back(twice.devices[0].front());
  CHECK_THROWS_WITH_AS(DynamicOrder(twice, w), doctest::Contains("is listed twice"), Error);
  DynamicOrder order(g.value().schedule, w);
  CHECK_THROWS_AS(order.finish(student_forward(5, 0, 0, 0)), Error);
  CHECK_THROWS_AS(order.take(0, -1.0, [](const Action&, const Action&, double f) { return f; }), Error);
}

namespace {

/// The dynamic order's rule, written as plainly as possible: scan the device's actions in priority
/// order (student work in list order, then teacher forwards) and take the first not yet taken
/// whose producers have all finished and arrived by `now`.
struct ScanningOrder {
  const Workload& w;
  const ActionIndex index;
  std::vector<std::vector<Action>> priority;
  std::map<std::size_t, double> finished;
  std::vector<std::vector<bool>> taken;

  ScanningOrder(const Schedule& s, const Workload& workload) : w(workload), index(w) {
    for (const auto& list : s.devices) {
      priority.emplace_back();
      for (bool teacher : {false, true})
        for (const Action& a : list)
          if ((a.kind == ActionKind::TeacherForward) == teacher) priority.back().push_back(a);
      taken.emplace_back(list.size(), false);
    }
  }
  template <class Arrival>
  bool usable(const Action& producer, const Action& a, double now, Arrival& arrival) const {
    const auto it = finished.find(index.index_unchecked(producer));
    return it != finished.end() && arrival(producer, a, it->second) <= now;
  }
  template <class Arrival>
  std::optional<Action> take(int device, double now, Arrival arrival) {
    const auto j = static_cast<std::size_t>(device);
    for (std::size_t i = 0; i < priority[j].size(); ++i) {
      const Action& a = priority[j][i];
      if (taken[j][i]) continue;
      bool ready = true;
      for_each_dependency(w, a, [&](const Action& p, DependencyKind) { return ready = usable(p, a, now, arrival); });
      const int student_done = a.batch - 1 - w.teacher_lookahead;
      if (ready && a.kind == ActionKind::TeacherForward && !w.momentum() && student_done >= 0)
        ready = usable(optimizer_step(a.stage, student_done), a, now, arrival);
      if (!ready) continue;
      taken[j][i] = true;
      return a;
    }
    return std::nullopt;
  }
};

}  // namespace

TEST_CASE("the dynamic order's counting and queues choose exactly what a scan of the pending actions chooses") {
  int compared = 0;
  for (auto name : {"gpipe", "1f1b", "tspipe-paper", "tspipe"})
    for (const bool momentum : {false, true})
      for (int S : {2, 3, 4}) {
        Workload w = momentum ? ssl_workload(S) : kd_workload(S);
        w.batches = 5;
        w.teacher_lookahead = S % 3;
        w.costs = CostModel::teacher_ratio(S, 2.5);
        for (auto& c : w.costs.stages) c.transfer = 0.4;
        auto g = generate(name, w);
        REQUIRE_MESSAGE(g.ok(), g.message());
        const Workload& gw = g.value().workload;
        const ActionIndex index(gw);
        // Uneven costs, so arrivals and priorities disagree often.
        const auto cost = [&](const Action& a) { return gw.action_cost(a) * (0.5 + static_cast<double>(index.index_unchecked(a) % 7) / 5.0); };
        const auto arrival = [&](const Action& p, const Action& c, double f) { return sim::detail::arrival(gw, p, c, f); };
        DynamicOrder fast(g.value().schedule, gw);
        ScanningOrder plain(g.value().schedule, gw);
        // The simulator's event loop, asking both at every instant and finishing what both chose.
        // An event is an action finishing, or (nothing) a result arriving over a transfer.
        using Event = std::pair<double, std::optional<Action>>;
        const auto later = [](const Event& a, const Event& b) { return a.first > b.first; };
        std::priority_queue<Event, std::vector<Event>, decltype(later)> events(later);
        std::vector<bool> busy(static_cast<std::size_t>(gw.stages), false);
        std::size_t ran = 0;
        double now = 0.0;
        for (;;) {
          for (int j = 0; j < gw.stages; ++j) {
            if (busy[static_cast<std::size_t>(j)]) continue;
            const auto a = fast.take(j, now, arrival);
            const auto b = plain.take(j, now, arrival);
            REQUIRE(a.has_value() == b.has_value());
            if (!a) continue;
            REQUIRE(to_token(*a) == to_token(*b));
            busy[static_cast<std::size_t>(j)] = true;
            events.emplace(now + cost(*a), *a);
            ++compared;
          }
          if (events.empty()) break;
          now = events.top().first;
          while (!events.empty() && events.top().first == now) {
            const std::optional<Action> finished = events.top().second;
            events.pop();
            if (!finished) continue;
            const Action a = *finished;
            fast.finish(a, now);
            plain.finished[index.index_unchecked(a)] = now;
            busy[static_cast<std::size_t>(device_of(gw, a))] = false;
            ++ran;
            for (int s : {a.stage - 1, a.stage + 1})
              if (s >= 0 && s < gw.stages && gw.transfer_cost(std::min(s, a.stage)) > 0.0)
                events.emplace(now + gw.transfer_cost(std::min(s, a.stage)), std::nullopt);
          }
        }
        CHECK(ran == index.size());
        for (int j = 0; j < gw.stages; ++j) CHECK(fast.exhausted(j));
      }
  CHECK(compared > 1000);
}
