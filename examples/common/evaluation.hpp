#pragma once
// How the examples measure a model: test accuracy of a classifier, and the linear probe of
// self-supervised learning (a linear classifier trained on the frozen features of the backbone).
// Under MPI every rank takes part: each evaluates its share of the test batches with the whole
// student (the ranks share their stages' weights first), and the results are combined in the
// dataset's order, so the figures equal one process's.
#include "backends.hpp"
#include "datasets.hpp"

#include <tspipe/nn/knn.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/pipeline.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tspipe::examples {

/// Test accuracy on `data.test` of a classifier given as an inference function (eval mode is the
/// caller's). Under MPI every rank calls it: each classifies its share of the test batches.
double classifier_accuracy(const std::function<nn::Tensor(const nn::Tensor&)>& infer, const Datasets& data);
/// Test accuracy of a model, in eval mode already, on any backend.
template <class B>
double model_accuracy(nn::Layer<B>& model, const Datasets& data) {
  return classifier_accuracy([&](const nn::Tensor& x) { return download(model.infer(BackendKit<B>::upload(x))); }, data);
}
/// Test accuracy of the pipeline's student (all blocks) in eval mode.
template <class B>
double student_accuracy(Pipeline<B>& pipeline, const Datasets& data);
/// Linear-probe test accuracy on the frozen features of the first `feature_blocks` student blocks
/// (features computed on the backend, the probe trained on the host).
template <class B>
double linear_probe_accuracy(Pipeline<B>& pipeline, int feature_blocks, const Datasets& data, int probe_epochs,
                             std::uint64_t seed);

/// The kNN learning monitor of a linear-probe phase: the weighted kNN classifier (nn/knn.hpp) of
/// the frozen features, `bank` (training images) as the memory bank and `queries` (test images),
/// once before training and after every epoch. options.k = 0: no monitor.
struct KnnMonitor {
  nn::KnnOptions options{.k = 0};
  std::shared_ptr<const data::ImageSource> bank, queries;
};

/// The kNN monitor's test accuracy on the frozen features of the first `feature_blocks` student
/// blocks (the images seen through `data.eval`).
template <class B>
double knn_accuracy(Pipeline<B>& pipeline, int feature_blocks, const KnnMonitor& monitor, const Datasets& data);

}  // namespace tspipe::examples
