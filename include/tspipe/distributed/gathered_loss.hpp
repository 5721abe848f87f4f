#pragma once
// GatheredLoss: a loss that needs the whole batch (InfoNCE: every sample is a negative of the
// others) computed over R pipeline replicas that each hold one shard of the batch.
#include <tspipe/distributed/collectives.hpp>
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/error.hpp>
#include <tspipe/nn/losses.hpp>

#include <mpi.h>

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace tspipe::distributed::mpi {

/// The last stage of each replica gathers every replica's student and teacher outputs and labels
/// (in replica order: the batch is the replicas' shards one after another), computes `inner` on
/// the whole batch, and keeps the gradient rows of its own shard. That slice is scaled by R
/// because the gradients are then averaged over the replicas: the sum of the slices is the
/// whole-batch gradient. Every replica reports the whole batch's loss. With R = 1 it is `inner`.
class GatheredLoss final : public nn::Loss {
 public:
  GatheredLoss(MpiSession& session, std::shared_ptr<const nn::Loss> inner) : session_(session), inner_(std::move(inner)) {}
  std::string_view name() const override { return inner_->name(); }

  nn::LossOutput compute(const nn::LossInput& input) const override {
    const int replicas = session_.layout().replicas;
    if (replicas == 1) return inner_->compute(input);
    MPI_Comm comm = session_.loss_comm();
    const auto gather_matrix = [&](const nn::MatrixView& m, const char* what) {
      auto all = all_gather_equal(session_, comm, replicas, std::vector<float>(m.data, m.data + m.size()), MPI_FLOAT, what);
      if (!all) throw Error("GatheredLoss: " + all.message());
      return std::move(all).value();
    };
    std::vector<std::vector<float>> student, teacher;
    nn::LossInput whole;
    for (std::size_t v = 0; v < input.student.size(); ++v) {
      student.push_back(gather_matrix(input.student[v], "the student embeddings"));
      whole.student.push_back({student.back().data(), input.student[v].rows * replicas, input.student[v].cols});
    }
    for (std::size_t v = 0; v < input.teacher.size(); ++v) {
      teacher.push_back(gather_matrix(input.teacher[v], "the teacher embeddings"));
      whole.teacher.push_back({teacher.back().data(), input.teacher[v].rows * replicas, input.teacher[v].cols});
    }
    std::vector<int> labels;
    if (!input.labels.empty()) {
      auto all = all_gather_equal(session_, comm, replicas, std::vector<int>(input.labels.begin(), input.labels.end()), MPI_INT, "the labels");
      if (!all) throw Error("GatheredLoss: " + all.message());
      labels = std::move(all).value();
      whole.labels = labels;
    }
    nn::LossOutput out = inner_->compute(whole);
    const auto replica = static_cast<std::size_t>(session_.layout().replica());
    for (std::size_t v = 0; v < out.d_student.size(); ++v) {
      const std::size_t shard = input.student[v].size();
      std::vector<float> mine(out.d_student[v].begin() + static_cast<std::ptrdiff_t>(replica * shard),
                              out.d_student[v].begin() + static_cast<std::ptrdiff_t>((replica + 1) * shard));
      for (float& g : mine) g *= static_cast<float>(replicas);
      out.d_student[v] = std::move(mine);
    }
    return out;
  }

 private:
  MpiSession& session_;
  std::shared_ptr<const nn::Loss> inner_;
};

}  // namespace tspipe::distributed::mpi
