// Errors as values: an Error carries a message, a Result<T> holds a T or an Error, and a
// Status is a Result with no value. Nothing here throws or exits; callers test and pass on.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace nnc {

/// A value or an error message: the error type used across the compiler core and runtime.
struct Error {
  std::string message;
};

/// Either a T or an Error; never throws.
template <typename T> class Result {
public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}
  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }
  T &operator*() { return std::get<0>(v_); }
  const T &operator*() const { return std::get<0>(v_); }
  T *operator->() { return &std::get<0>(v_); }
  const T *operator->() const { return &std::get<0>(v_); }
  const std::string &error() const { return std::get<1>(v_).message; }
  T take() { return std::move(std::get<0>(v_)); }

private:
  std::variant<T, Error> v_;
};

/// Result for operations with no value.
struct Unit {};
using Status = Result<Unit>;
/// The success value of a Status.
inline Status okStatus() {
  return Unit{};
}

} // namespace nnc
