#pragma once
// Errors in tspipe.
//
// Inside the library a violated precondition throws tspipe::Error whose message names the
// failing thing (the layer, its name, the shapes involved), e.g.
//   "Linear 'fc': input has 10 features, expected 12".
// At library boundaries (docs/design.md §7) functions may instead return a [[nodiscard]] Status or
// Result<T>, which carry the same message as a value; `try_call` turns one into the other.
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace tspipe {

/// The one exception type tspipe throws for bad input or configuration.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Success, or a message that says what went wrong.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status failure(std::string message) { return Status(std::move(message)); }

  bool ok() const noexcept { return !message_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  /// The failure message; empty when ok().
  const std::string& message() const noexcept {
    static const std::string empty;
    return message_ ? *message_ : empty;
  }
  /// Throws tspipe::Error carrying the message when this is a failure.
  void throw_if_error() const {
    if (message_) throw Error(*message_);
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

/// A value of type T, or a failure message.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status failure) : state_(std::in_place_index<1>, failure.message()) {
    if (failure.ok()) throw Error("Result: constructed from a successful Status without a value");
  }
  static Result failure(std::string message) { return Result(Status::failure(std::move(message))); }

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  const std::string& message() const noexcept {
    static const std::string empty;
    return ok() ? empty : std::get<1>(state_);
  }
  /// The value; throws tspipe::Error with the failure message when there is none.
  T& value() & {
    if (!ok()) throw Error(std::get<1>(state_));
    return std::get<0>(state_);
  }
  const T& value() const& {
    if (!ok()) throw Error(std::get<1>(state_));
    return std::get<0>(state_);
  }
  T&& value() && {
    if (!ok()) throw Error(std::get<1>(state_));
    return std::get<0>(std::move(state_));
  }

 private:
  std::variant<T, std::string> state_;
};

/// Runs `f` and converts a thrown tspipe::Error (or any std::exception) into a failed Result /
/// Status: the bridge between throwing internals and errors-as-values boundaries.
template <class F>
auto try_call(F&& f) -> std::conditional_t<std::is_void_v<decltype(f())>, Status,
                                           Result<decltype(f())>> {
  using R = decltype(f());
  try {
    if constexpr (std::is_void_v<R>) {
      f();
      return Status{};
    } else {
      return Result<R>(f());
    }
  } catch (const std::exception& e) {
    return Status::failure(e.what());
  }
}

}  // namespace tspipe
