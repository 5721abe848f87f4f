#include "evaluation.hpp"

#include "launch.hpp"

#include <tspipe/data/loader.hpp>
#include <tspipe/nn/annealing.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/nn/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace tspipe::examples {

namespace {

/// The pipeline's student in eval mode (BatchNorm on running statistics) for the scope.
template <class B>
class StudentEvalMode {
 public:
  explicit StudentEvalMode(Pipeline<B>& p) : pipeline_(p) { set(false); }
  ~StudentEvalMode() { set(true); }
  StudentEvalMode(const StudentEvalMode&) = delete;
  StudentEvalMode& operator=(const StudentEvalMode&) = delete;

 private:
  void set(bool training) {
    for (int s = 0; s < pipeline_.stages(); ++s) pipeline_.stage(s).student.set_training(training);
  }
  Pipeline<B>& pipeline_;
};

/// The output of the first `blocks` student blocks (0 = all), stage after stage, on the host.
template <class B>
nn::Tensor student_infer(Pipeline<B>& p, const nn::Tensor& x, int blocks) {
  typename B::Tensor h = BackendKit<B>::upload(x);
  int used = 0;
  const auto enough = [&] { return blocks > 0 && used == blocks; };
  for (int s = 0; s < p.stages() && !enough(); ++s) {
    auto& sequence = p.stage(s).student;
    for (std::size_t i = 0; i < sequence.size() && !enough(); ++i, ++used) h = sequence[i].infer(h);
  }
  if (blocks > used)
    throw Error("asked for the features after " + std::to_string(blocks) + " student blocks; the student has " + std::to_string(used));
  return download(h);
}

/// Samples per evaluation batch: every process cuts `source` alike, so each sample's result is
/// the same whichever process computes it.
int64_t eval_batch_size(const data::ImageSource& source) { return std::min<int64_t>(256, source.size()); }

/// Calls f(input tensor, labels) for this process's share of the test-time batches of `source`
/// (seen through `views`, no augmentation): batch i when i mod (processes) is its rank, so that
/// under MPI the ranks split the evaluation between them; alone, every batch.
void for_each_eval_batch(const std::shared_ptr<const data::ImageSource>& source, const data::MultiView& views,
                         const std::function<void(const nn::Tensor&, const std::vector<int>&)>& f) {
  data::LoaderOptions lo;
  lo.batch_size = static_cast<int>(eval_batch_size(*source));
  lo.shuffle = false;
  lo.drop_last = false;
  lo.workers = 0;
  data::Loader loader(source, views, lo);
  loader.start_epoch(0);
  for (long i = 0; auto batch = loader.next(); ++i)
    if (i % launch().world_size == launch().rank)
      f(nn::Tensor::from({batch->n, batch->c, batch->h, batch->w}, batch->views[0]), batch->labels);
}

int argmax_row(const float* row, int64_t cols) {
  return static_cast<int>(std::max_element(row, row + cols) - row);
}

struct Features {
  std::vector<float> values;
  std::vector<int> labels;
  int64_t dim = 0;
};

/// Every process's features (for_each_eval_batch's shares) in the order of `source`, on every
/// process.
Features gather_features(const Features& mine, const data::ImageSource& source) {
  if (!launch().distributed()) return mine;
  const std::vector<std::vector<float>> part_values = gathered(mine.values);
  const std::vector<std::vector<int>> part_labels = gathered(mine.labels);
  std::size_t total = 0;
  for (const auto& part : part_values) total += part.size();
  Features all;
  const int64_t count = source.size();
  all.dim = count > 0 ? static_cast<int64_t>(total) / count : 0;
  const auto dim = static_cast<std::size_t>(all.dim);
  std::vector<std::size_t> taken(part_values.size(), 0);  // rows taken from each process's part
  const int64_t size = eval_batch_size(source);
  for (int64_t first = 0, i = 0; first < count; first += size, ++i) {
    const auto r = static_cast<std::size_t>(i % launch().world_size);
    const auto rows = static_cast<std::size_t>(std::min(size, count - first));
    const auto from = part_values[r].begin() + static_cast<std::ptrdiff_t>(taken[r] * dim);
    all.values.insert(all.values.end(), from, from + static_cast<std::ptrdiff_t>(rows * dim));
    const auto labels_from = part_labels[r].begin() + static_cast<std::ptrdiff_t>(taken[r]);
    all.labels.insert(all.labels.end(), labels_from, labels_from + static_cast<std::ptrdiff_t>(rows));
    taken[r] += rows;
  }
  return all;
}

template <class B>
Features extract_features(Pipeline<B>& p, int feature_blocks, const std::shared_ptr<const data::ImageSource>& source,
                          const data::MultiView& views) {
  Features out;
  StudentEvalMode<B> eval(p);
  for_each_eval_batch(source, views, [&](const nn::Tensor& x, const std::vector<int>& labels) {
    const nn::Tensor y = student_infer(p, x, feature_blocks);
    out.dim = y.numel() / y.size(0);
    out.values.insert(out.values.end(), y.data(), y.data() + y.numel());
    out.labels.insert(out.labels.end(), labels.begin(), labels.end());
  });
  return gather_features(out, *source);
}

/// Copies the tensors named "<prefix><name>" of `content` (read from `source`, named in errors)
/// into `model`'s parameters and buffers; throws naming the first missing or misshapen tensor.
template <class B>
void copy_weights(nn::Layer<B>& model, const nn::SafetensorsContent& content, const std::string& source, const std::string& prefix) {
  const auto fill = [&](const std::string& name, typename B::Tensor& into) {
    const auto it = content.tensors.find(prefix + name);
    if (it == content.tensors.end())
      throw Error(source + ": has no tensor '" + prefix + name + "' (not a checkpoint of this model?)");
    const auto values = it->second.to_f32();
    if (static_cast<int64_t>(values.size()) != into.numel())
      throw Error(source + ": '" + prefix + name + "' has " + std::to_string(values.size()) + " values, the model " +
                  std::to_string(into.numel()) + " (built with other flags?)");
    runtime::TensorOps<typename B::Tensor>::copy_from_host(into, values);
  };
  for (auto& p : model.parameters()) fill(p.name, *p.value);
  for (auto& b : model.buffers()) fill(b.name, *b.value);
}

/// Under MPI, gives every rank the student weights of every stage (each rank trains one): the
/// ranks of replica 0 share theirs (the replicas hold the same), so that any rank can evaluate the
/// whole student. Alone, nothing to do.
template <class B>
void share_student_weights(Pipeline<B>& p) {
  const Launch& l = launch();
  if (!l.distributed()) return;
  for (int s = 0; s < p.stages(); ++s) {
    std::vector<std::byte> bytes;
    if (l.rank == l.rank_of(0, s)) {
      nn::SafetensorsContent content;
      const auto put = [&](const std::string& name, const typename B::Tensor& t) {
        std::vector<std::uint64_t> shape;
        for (auto d : t.shape()) shape.push_back(static_cast<std::uint64_t>(d));
        content.tensors[name] = nn::StoredTensor::from_f32(shape, download(t).span());
      };
      for (auto& param : p.stage(s).student.parameters()) put(param.name, *param.value);
      for (auto& buffer : p.stage(s).student.buffers()) put(buffer.name, *buffer.value);
      bytes = nn::serialize_safetensors(content);
    }
    share_from(l.rank_of(0, s), bytes);
    if (l.stage() == s) continue;
    const std::string source = "the student of stage " + std::to_string(s) + " from " + std::to_string(l.rank_of(0, s));
    copy_weights(p.stage(s).student, nn::parse_safetensors(bytes, source, nn::Checksums::required), source, "");
  }
}

}  // namespace

double classifier_accuracy(const std::function<nn::Tensor(const nn::Tensor&)>& infer, const Datasets& data) {
  long correct = 0, total = 0;
  for_each_eval_batch(data.test, data.eval, [&](const nn::Tensor& x, const std::vector<int>& labels) {
    const nn::Tensor logits = infer(x);
    const int64_t classes = logits.numel() / logits.size(0);
    for (std::size_t i = 0; i < labels.size(); ++i)
      correct += argmax_row(logits.data() + static_cast<int64_t>(i) * classes, classes) == labels[i];
    total += static_cast<long>(labels.size());
  });
  const std::vector<double> counts = sum_over_processes({static_cast<double>(correct), static_cast<double>(total)});
  return counts[1] > 0 ? counts[0] / counts[1] : 0.0;
}

template <class B>
double student_accuracy(Pipeline<B>& pipeline, const Datasets& data) {
  share_student_weights(pipeline);
  StudentEvalMode<B> eval(pipeline);
  return classifier_accuracy([&](const nn::Tensor& x) { return student_infer(pipeline, x, 0); }, data);
}

template <class B>
double linear_probe_accuracy(Pipeline<B>& pipeline, int feature_blocks, const Datasets& data, int probe_epochs,
                             std::uint64_t seed) {
  share_student_weights(pipeline);
  Features train = extract_features(pipeline, feature_blocks, data.train, data.eval);
  Features test = extract_features(pipeline, feature_blocks, data.test, data.eval);
  const int64_t dim = train.dim;
  const int n = static_cast<int>(train.labels.size());
  // Standardise with the training features' statistics (what MoCo-v3's probe BatchNorm does).
  std::vector<double> mean(static_cast<std::size_t>(dim)), var(static_cast<std::size_t>(dim));
  for (int i = 0; i < n; ++i)
    for (int64_t k = 0; k < dim; ++k) mean[static_cast<std::size_t>(k)] += train.values[static_cast<std::size_t>(i * dim + k)];
  for (auto& m : mean) m /= n;
  for (int i = 0; i < n; ++i)
    for (int64_t k = 0; k < dim; ++k) {
      const double d = train.values[static_cast<std::size_t>(i * dim + k)] - mean[static_cast<std::size_t>(k)];
      var[static_cast<std::size_t>(k)] += d * d;
    }
  for (Features* f : {&train, &test})
    for (std::size_t i = 0; i < f->values.size(); ++i) {
      const std::size_t k = i % static_cast<std::size_t>(dim);
      f->values[i] = static_cast<float>((f->values[i] - mean[k]) / std::sqrt(var[k] / n + 1e-6));
    }

  const int64_t classes = data.train->num_classes();
  auto probe = cpu::Backend::linear(dim, classes, true, seed, "probe");  // the probe trains on the host
  std::vector<nn::ParamSlot> slots;
  for (auto& p : probe->parameters()) slots.push_back({p.name, p.value->span(), p.grad->span(), p.no_weight_decay});
  nn::Sgd sgd(nn::SgdOptions{.learning_rate = 0.1, .momentum = 0.9f, .weight_decay = 1e-4f, .nesterov = false});
  const nn::CrossEntropyLoss loss;
  constexpr int batch = 256;
  const long steps_per_epoch = (n + batch - 1) / batch;
  const nn::WarmupCosineLR schedule(0.1, 0, probe_epochs * steps_per_epoch);
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  nn::Rng rng(seed ^ 0x9e3779b97f4a7c15ull);
  long step = 0;
  for (int epoch = 0; epoch < probe_epochs; ++epoch) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next_u64() % i]);
    for (int first = 0; first < n; first += batch, ++step) {
      const int rows = std::min(batch, n - first);
      std::vector<float> x(static_cast<std::size_t>(rows * dim));
      std::vector<int> labels(static_cast<std::size_t>(rows));
      for (int r = 0; r < rows; ++r) {
        const int id = order[static_cast<std::size_t>(first + r)];
        std::copy_n(train.values.begin() + id * dim, dim, x.begin() + r * dim);
        labels[static_cast<std::size_t>(r)] = train.labels[static_cast<std::size_t>(id)];
      }
      auto [logits, ctx] = probe->forward(nn::Tensor::from({rows, dim}, x));
      const nn::LossOutput out = loss.compute({{nn::MatrixView{logits.data(), rows, static_cast<int>(classes)}}, {}, labels});
      probe->backward(ctx, nn::Tensor::from({rows, classes}, out.d_student[0]));
      sgd.set_learning_rate(schedule.at(step));
      sgd.step(slots);
      probe->zero_grad();
    }
  }
  long correct = 0;
  const int test_n = static_cast<int>(test.labels.size());
  const nn::Tensor logits = probe->infer(nn::Tensor::from({test_n, dim}, test.values));
  for (int i = 0; i < test_n; ++i)
    correct += argmax_row(logits.data() + i * classes, classes) == test.labels[static_cast<std::size_t>(i)];
  return test_n ? static_cast<double>(correct) / test_n : 0.0;
}

template <class B>
double knn_accuracy(Pipeline<B>& pipeline, int feature_blocks, const KnnMonitor& monitor, const Datasets& data) {
  share_student_weights(pipeline);
  const Features bank = extract_features(pipeline, feature_blocks, monitor.bank, data.eval);
  const Features queries = extract_features(pipeline, feature_blocks, monitor.queries, data.eval);
  const nn::KnnClassifier knn({bank.values, bank.labels, bank.dim}, monitor.bank->num_classes(), monitor.options);
  return knn.accuracy({queries.values, queries.labels, queries.dim});
}

// Every template above, once per backend the examples are built with.
#define TSPIPE_EXAMPLES_INSTANTIATE_EVALUATION(B)                                                  \
  template double student_accuracy<B>(Pipeline<B>&, const Datasets&);                              \
  template double linear_probe_accuracy<B>(Pipeline<B>&, int, const Datasets&, int, std::uint64_t); \
  template double knn_accuracy<B>(Pipeline<B>&, int, const KnnMonitor&, const Datasets&);

TSPIPE_EXAMPLES_INSTANTIATE_EVALUATION(cpu::Backend)
#if TSPIPE_EXAMPLES_CUDA
TSPIPE_EXAMPLES_INSTANTIATE_EVALUATION(cuda::Backend)
#endif

}  // namespace tspipe::examples
