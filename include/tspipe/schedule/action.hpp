#pragma once
// The action IR of docs/design.md §1: the unit a schedule orders, and its stable text token.
//
//   FT:s.b.v.u  teacher forward (inference mode)      FS:s.b.v.u  student forward
//   BS:s.b.v.u  student backward                      BI/BW:s.b.v.u  input-grad / weight-grad
//   LOSS:b      whole-batch loss on the last stage    OPT:s.b / EMA:s.b  optimizer / teacher update
//   LOSS:b.u    the loss of micro-batch u (every view) when the workload's loss is per micro-batch;
//               LOSS:b is micro-batch 0's
//
// With virtual stages (v chunks per device) `s` is the logical stage, 0 ≤ s < S·v; the workload's
// placement says which device runs it. With one chunk per device the logical stage is the device.
//
// There is deliberately no teacher-backward token: the IR cannot express one.
#include <tspipe/error.hpp>
#include <tspipe/schedule/limits.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace tspipe::schedule {

enum class ActionKind : std::uint8_t {
  TeacherForward,
  StudentForward,
  StudentBackward,
  BackwardInput,
  BackwardWeight,
  Loss,
  Optimizer,
  Ema,
};
inline constexpr int kActionKinds = 8;

/// The token prefix of a kind ("FT", "FS", ...).
constexpr std::string_view token_prefix(ActionKind kind) {
  switch (kind) {
    case ActionKind::TeacherForward: return "FT";
    case ActionKind::StudentForward: return "FS";
    case ActionKind::StudentBackward: return "BS";
    case ActionKind::BackwardInput: return "BI";
    case ActionKind::BackwardWeight: return "BW";
    case ActionKind::Loss: return "LOSS";
    case ActionKind::Optimizer: return "OPT";
    case ActionKind::Ema: return "EMA";
  }
  return "?";
}

/// Kinds that carry a view and a micro-batch (the per-slice compute actions).
constexpr bool is_sliced(ActionKind kind) {
  return kind == ActionKind::TeacherForward || kind == ActionKind::StudentForward ||
         kind == ActionKind::StudentBackward || kind == ActionKind::BackwardInput ||
         kind == ActionKind::BackwardWeight;
}
constexpr bool is_student_backward(ActionKind kind) {
  return kind == ActionKind::StudentBackward || kind == ActionKind::BackwardInput ||
         kind == ActionKind::BackwardWeight;
}

/// One action. Fields a kind does not use are 0 (LOSS uses `batch`, and `micro_batch` under a
/// per-micro-batch loss; OPT/EMA use `stage` and `batch`).
struct Action {
  ActionKind kind = ActionKind::StudentForward;
  std::int32_t stage = 0;
  std::int32_t batch = 0;
  std::int32_t view = 0;
  std::int32_t micro_batch = 0;

  friend constexpr bool operator==(const Action&, const Action&) = default;
};

constexpr Action teacher_forward(int s, int b, int v, int u) { return {ActionKind::TeacherForward, s, b, v, u}; }
constexpr Action student_forward(int s, int b, int v, int u) { return {ActionKind::StudentForward, s, b, v, u}; }
constexpr Action student_backward(int s, int b, int v, int u) { return {ActionKind::StudentBackward, s, b, v, u}; }
constexpr Action backward_input(int s, int b, int v, int u) { return {ActionKind::BackwardInput, s, b, v, u}; }
constexpr Action backward_weight(int s, int b, int v, int u) { return {ActionKind::BackwardWeight, s, b, v, u}; }
constexpr Action loss(int last_stage, int b, int u = 0) { return {ActionKind::Loss, last_stage, b, 0, u}; }
constexpr Action optimizer_step(int s, int b) { return {ActionKind::Optimizer, s, b, 0, 0}; }
constexpr Action ema_update(int s, int b) { return {ActionKind::Ema, s, b, 0, 0}; }

/// The text token of an action, e.g. "FT:2.0.1.3", "LOSS:5", "LOSS:5.2", "OPT:1.4".
inline std::string to_token(const Action& a) {
  std::string out(token_prefix(a.kind));
  out += ':';
  if (a.kind == ActionKind::Loss)
    return out + std::to_string(a.batch) + (a.micro_batch != 0 ? '.' + std::to_string(a.micro_batch) : std::string());
  out += std::to_string(a.stage) + '.' + std::to_string(a.batch);
  if (is_sliced(a.kind)) out += '.' + std::to_string(a.view) + '.' + std::to_string(a.micro_batch);
  return out;
}

/// Parses one token. The stage of a LOSS token is not part of its text; it is set to
/// `last_stage` (the caller knows the pipeline depth).
inline Result<Action> parse_token(std::string_view token, int last_stage = 0) {
  const auto fail = [&](std::string_view why) {
    return Result<Action>::failure("malformed action token " + quote(token) + ": " + std::string(why));
  };
  const auto colon = token.find(':');
  if (colon == std::string_view::npos) return fail("expected KIND:fields, e.g. FS:0.1.0.2");
  const std::string_view prefix = token.substr(0, colon);
  Action action{};
  bool known = false;
  for (int k = 0; k < kActionKinds; ++k) {
    if (token_prefix(static_cast<ActionKind>(k)) == prefix) {
      action.kind = static_cast<ActionKind>(k);
      known = true;
    }
  }
  if (!known) return fail("unknown kind " + quote(prefix) + " (expected FT, FS, BS, BI, BW, LOSS, OPT or EMA)");

  // LOSS takes the batch and, under a per-micro-batch loss, the micro-batch.
  const int expected = action.kind == ActionKind::Loss ? 2 : is_sliced(action.kind) ? 4 : 2;
  const std::string wanted = action.kind == ActionKind::Loss ? "1 or 2" : std::to_string(expected);
  std::int32_t fields[4] = {0, 0, 0, 0};
  int count = 0;
  std::string_view rest = token.substr(colon + 1);
  while (true) {
    if (count == expected) return fail("expected " + wanted + " fields");
    const auto dot = rest.find('.');
    const std::string_view field = rest.substr(0, dot);
    if (field.empty()) return fail("empty field " + std::to_string(count + 1));
    std::int32_t value = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec != std::errc{} || end != field.data() + field.size())
      return fail("field " + std::to_string(count + 1) + " " + quote(field) + " is not an integer");
    if (value < 0) return fail("field " + std::to_string(count + 1) + " is negative");
    fields[count++] = value;
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  if (count != expected && !(action.kind == ActionKind::Loss && count == 1))
    return fail("expected " + wanted + " fields, got " + std::to_string(count));

  if (action.kind == ActionKind::Loss) {
    action.stage = last_stage;
    action.batch = fields[0];
    action.micro_batch = fields[1];
  } else {
    action.stage = fields[0];
    action.batch = fields[1];
    action.view = fields[2];
    action.micro_batch = fields[3];
  }
  return action;
}

}  // namespace tspipe::schedule
