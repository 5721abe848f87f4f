#pragma once
// The doctest checks of a pipeline's run against common.hpp's single-device ReferenceTrainer
// (apart from common.hpp, which non-doctest programs include too).
#include <doctest/doctest.h>

#include "common.hpp"

#include <vector>

namespace test {

/// Flushes `pipeline` (fed batches 0, 1, … in order) and checks it against the reference that
/// trained the same batches: one loss per batch, in batch order, each within a relative 1e-5 of
/// `expected`, and the student's parameters within 1e-5 of the reference's.
inline void check_losses_and_student(tspipe::Pipeline<B>& pipeline, const std::vector<double>& expected, ReferenceTrainer& ref) {
  pipeline.flush();
  const auto losses = pipeline.take_losses();
  REQUIRE(losses.size() == expected.size());
  for (std::size_t step = 0; step < expected.size(); ++step) {
    CHECK(losses[step].batch == static_cast<long>(step));
    CHECK(losses[step].loss == doctest::Approx(expected[step]).epsilon(1e-5));
  }
  CHECK(max_relative_difference(values_of(pipeline.student_parameters()), values_of(ref.student.parameters())) < 1e-5);
}

}  // namespace test
