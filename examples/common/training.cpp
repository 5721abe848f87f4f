#include "training.hpp"

#include <tspipe/data/loader.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/nn/annealing.hpp>
#include <tspipe/planning/evaluate.hpp>
#include <tspipe/sim/export.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>
#include <type_traits>

namespace tspipe::examples {

namespace fs = std::filesystem;

namespace {

std::shared_ptr<const data::Dataset> load_split(const CommonOptions& o, data::Split split, int subset, const char* flag) {
  data::Dataset ds = data::load_from_flag(o.data, split);
  if (subset > ds.count)
    throw UsageError(std::string("--") + flag + " " + std::to_string(subset) + ": " + ds.source + " holds only " +
                     std::to_string(ds.count) + " images");
  if (subset > 0) ds = data::subset(ds, 0, subset);
  return std::make_shared<const data::Dataset>(std::move(ds));
}

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

/// Calls f(input tensor, labels) for every test-time batch of `ds` (normalised, no augmentation).
void for_each_eval_batch(const data::Dataset& ds, const std::function<void(const nn::Tensor&, const std::vector<int>&)>& f) {
  data::LoaderOptions lo;
  lo.batch_size = std::min(256, ds.count);
  lo.shuffle = false;
  lo.drop_last = false;
  lo.workers = 0;
  data::Loader loader(std::make_shared<const data::Dataset>(ds), data::eval_views(data::fashion_mnist_normalization()), lo);
  loader.start_epoch(0);
  while (auto batch = loader.next())
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

template <class B>
Features extract_features(Pipeline<B>& p, int feature_blocks, const data::Dataset& ds) {
  Features out;
  StudentEvalMode<B> eval(p);
  for_each_eval_batch(ds, [&](const nn::Tensor& x, const std::vector<int>& labels) {
    const nn::Tensor y = student_infer(p, x, feature_blocks);
    out.dim = y.numel() / y.size(0);
    out.values.insert(out.values.end(), y.data(), y.data() + y.numel());
    out.labels.insert(out.labels.end(), labels.begin(), labels.end());
  });
  return out;
}

int epochs_trained_by_this_process = 0;  // for --stop-after

std::string fixed(double x, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, x);
  return buffer;
}

/// The measured actions of batches ≥ first_batch, shifted to start at time 0.
template <class B>
std::vector<std::vector<sim::TimedAction>> measured_since(const Pipeline<B>& p, long first_batch) {
  auto timeline = p.trace_timeline();
  double start = 1e300;
  for (auto& device : timeline) {
    std::erase_if(device, [&](const sim::TimedAction& t) { return t.action.batch < first_batch; });
    for (const auto& t : device) start = std::min(start, t.start);
  }
  for (auto& device : timeline)
    for (auto& t : device) {
      t.start -= start;
      t.end -= start;
    }
  return timeline;
}

}  // namespace

Datasets load_datasets(const CommonOptions& o) {
  Datasets d{load_split(o, data::Split::train, o.train_subset, "train-subset"),
             load_split(o, data::Split::test, o.test_subset, "test-subset")};
  if (o.batch_size > d.train->count)
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + ": larger than the training set (" + d.train->source +
                     ", " + std::to_string(d.train->count) + " images" + (o.train_subset ? " after --train-subset" : "") + ")");
  return d;
}

double classifier_accuracy(const std::function<nn::Tensor(const nn::Tensor&)>& infer, const data::Dataset& test) {
  long correct = 0, total = 0;
  for_each_eval_batch(test, [&](const nn::Tensor& x, const std::vector<int>& labels) {
    const nn::Tensor logits = infer(x);
    const int64_t classes = logits.numel() / logits.size(0);
    for (std::size_t i = 0; i < labels.size(); ++i)
      correct += argmax_row(logits.data() + static_cast<int64_t>(i) * classes, classes) == labels[i];
    total += static_cast<long>(labels.size());
  });
  return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

template <class B>
double student_accuracy(Pipeline<B>& pipeline, const data::Dataset& test) {
  StudentEvalMode<B> eval(pipeline);
  return classifier_accuracy([&](const nn::Tensor& x) { return student_infer(pipeline, x, 0); }, test);
}

template <class B>
double linear_probe_accuracy(Pipeline<B>& pipeline, int feature_blocks, const Datasets& data, int probe_epochs,
                             std::uint64_t seed) {
  Features train = extract_features(pipeline, feature_blocks, *data.train);
  Features test = extract_features(pipeline, feature_blocks, *data.test);
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
double knn_accuracy(Pipeline<B>& pipeline, int feature_blocks, const KnnMonitor& monitor) {
  const Features bank = extract_features(pipeline, feature_blocks, *monitor.bank);
  const Features queries = extract_features(pipeline, feature_blocks, *monitor.queries);
  const nn::KnnClassifier knn({bank.values, bank.labels, bank.dim}, monitor.bank->num_classes(), monitor.options);
  return knn.accuracy({queries.values, queries.labels, queries.dim});
}

template <class B>
void load_weights(nn::Layer<B>& model, const fs::path& checkpoint, const std::string& prefix) {
  const nn::SafetensorsContent content = nn::load_safetensors(checkpoint);
  const auto fill = [&](const std::string& name, typename B::Tensor& into) {
    const auto it = content.tensors.find(prefix + name);
    if (it == content.tensors.end())
      throw Error(checkpoint.string() + ": has no tensor '" + prefix + name + "' (not a checkpoint of this model?)");
    const auto values = it->second.to_f32();
    if (static_cast<int64_t>(values.size()) != into.numel())
      throw Error(checkpoint.string() + ": '" + prefix + name + "' has " + std::to_string(values.size()) +
                  " values, the model " + std::to_string(into.numel()) + " (built with other flags?)");
    runtime::TensorOps<typename B::Tensor>::copy_from_host(into, values);
  };
  for (auto& p : model.parameters()) fill(p.name, *p.value);
  for (auto& b : model.buffers()) fill(b.name, *b.value);
}

template <class B>
std::string schedule_comparison(const Pipeline<B>& pipeline, nlohmann::json& json) {
  const schedule::Workload w = pipeline.workload(16);
  std::string text = "schedule comparison on this run's profiled costs (S = " + std::to_string(w.stages) +
                     ", M = " + std::to_string(w.micro_batches) + ", V = " + std::to_string(w.views) + ", " +
                     (w.teacher == schedule::TeacherKind::momentum ? "momentum" : "frozen") + " teacher, δ = " +
                     std::to_string(w.staleness) + ", 16 batches simulated):\n";
  text += "  schedule        time/batch    utilisation   speed-up vs sequential\n";
  json = nlohmann::json::array();
  for (auto name : planning::generator_names()) {
    std::string row = "  " + std::string(name) + (name == pipeline.options().schedule ? " *" : "");
    row.resize(18, ' ');
    auto evaluated = planning::evaluate(name, w);
    if (!evaluated) {
      text += row + "n/a (" + evaluated.message() + ")\n";
      json.push_back({{"schedule", name}, {"error", evaluated.message()}});
      continue;
    }
    const auto& e = evaluated.value();
    text += row + fixed(1000.0 * e.result.time_per_batch, 2) + " ms" + std::string(6, ' ') +
            fixed(100.0 * e.result.utilisation, 1) + "%" + std::string(9, ' ') + fixed(e.speedup_vs_sequential, 2) + "x\n";
    json.push_back({{"schedule", name},
                    {"time_per_batch_s", e.result.time_per_batch},
                    {"utilisation", e.result.utilisation},
                    {"speedup_vs_sequential", e.speedup_vs_sequential}});
  }
  const auto timing = pipeline.timing_report();
  text += "  (* this run; measured " + fixed(1000.0 * timing.measured_time_per_batch, 2) + " ms/batch, predicted " +
          fixed(1000.0 * timing.predicted_time_per_batch, 2) + " ms/batch with drains between segments)\n";
  return text;
}

nlohmann::json options_json(const CommonOptions& o) {
  return {{"backend", o.backend}, {"stages", o.stages}, {"micro_batches", o.micro_batches},
          {"schedule", o.schedule}, {"staleness", o.staleness}, {"warmup", o.warmup}, {"epochs", o.epochs},
          {"batch_size", o.batch_size}, {"learning_rate", o.learning_rate}, {"weight_decay", o.weight_decay},
          {"lr_warmup_epochs", o.lr_warmup_epochs}, {"seed", o.seed}, {"out", o.out}, {"resume", o.resume},
          {"data", o.data.empty() ? data::default_fashion_mnist_dir().string() : o.data},
          {"train_subset", o.train_subset}, {"test_subset", o.test_subset}, {"width", o.width},
          {"threads", o.threads}, {"segment_batches", o.segment_batches}, {"probe_epochs", o.probe_epochs},
          {"init_probe", o.init_probe}};
}

template <class B>
PhaseResult<B> run_phase(PhaseSpec<B> spec, const CommonOptions& o, const Datasets& data) {
  const fs::path dir = fs::path(o.out) / spec.name;
  fs::create_directories(dir);
  const fs::path checkpoint = dir / "checkpoint.safetensors", state_path = dir / "state.json";

  data::LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.seed = static_cast<std::uint64_t>(o.seed);
  lo.workers = 1;
  data::Loader loader(data.train, spec.augment, lo);
  const long batches_per_epoch = loader.batches_per_epoch();
  const long total_steps = batches_per_epoch * spec.epochs;

  PipelineOptions& po = spec.pipeline;
  po.stages = o.stages;
  po.micro_batches = o.micro_batches;
  po.schedule = o.schedule;
  po.batch_size = o.batch_size;
  po.input_shape = {data.train->channels, data.train->h, data.train->w};
  po.segment_batches = o.segment_batches;
  if (po.teacher.is_momentum()) {
    po.teacher.staleness = o.staleness;
    po.teacher.warmup = o.warmup;
    po.teacher.tau.shape = update::TauSchedule::Shape::cosine_to_one;
    po.teacher.tau.total_steps = total_steps;
  }
  // OpenBLAS threads: the CPU backend's stages share the cores; on a GPU only the probe uses them.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool host_stages = std::is_same_v<B, cpu::Backend>;
  cpu::Backend::set_threads(o.threads > 0 ? o.threads : host_stages ? std::max(1, cores / o.stages) : cores);

  PhaseResult<B> result;
  result.pipeline = std::make_unique<Pipeline<B>>(std::move(spec.teacher), std::move(spec.student), spec.loss,
                                                       spec.make_optimizer, po);
  Pipeline<B>& pipeline = *result.pipeline;

  // The random-initialisation baseline: the same probe on the weights before any training (taken
  // before a checkpoint is loaded, so a resumed run reports the same figure).
  if (o.init_probe && spec.measure == Measure::linear_probe) {
    result.init_probe_accuracy = linear_probe_accuracy(pipeline, spec.feature_blocks, data, o.probe_epochs,
                                                       static_cast<std::uint64_t>(o.seed) + 77);
    std::printf("%s: linear probe on the untrained (randomly initialised) backbone: test acc %.2f%%\n", spec.name.c_str(),
                100.0 * result.init_probe_accuracy);
    std::fflush(stdout);
  }

  const bool monitored = spec.knn.options.k > 0 && spec.measure == Measure::linear_probe;
  if (monitored) {  // like --init-probe, before any checkpoint is loaded
    result.init_knn_accuracy = knn_accuracy(pipeline, spec.feature_blocks, spec.knn);
    std::printf("%s: kNN monitor on the untrained (randomly initialised) backbone: %.2f%%\n", spec.name.c_str(),
                100.0 * result.init_knn_accuracy);
    std::fflush(stdout);
  }

  int first_epoch = 0;
  if (o.resume && fs::exists(state_path)) {
    std::ifstream in(state_path);
    const nlohmann::json state = nlohmann::json::parse(in);
    for (const auto& r : state.at("history")) result.history.push_back(epoch_record_from_json(r));
    first_epoch = state.at("epochs_done").get<int>();
    pipeline.load(checkpoint);
    if (pipeline.batches_fed() != first_epoch * batches_per_epoch)
      throw Error(checkpoint.string() + ": holds step " + std::to_string(pipeline.batches_fed()) + " but " + state_path.string() +
                  " says " + std::to_string(first_epoch) + " epochs of " + std::to_string(batches_per_epoch) +
                  " batches are done (were the flags changed?)");
    std::printf("%s: resumed after epoch %d of %d from %s\n", spec.name.c_str(), first_epoch, spec.epochs, checkpoint.string().c_str());
  }

  const nn::WarmupCosineLR lr_schedule(o.learning_rate, std::min<long>(total_steps, o.lr_warmup_epochs * batches_per_epoch),
                                       total_steps);
  for (int epoch = first_epoch; epoch < spec.epochs; ++epoch) {
    const long first_batch = pipeline.batches_fed();
    ProgressBar bar(spec.name + " " + std::to_string(epoch + 1) + "/" + std::to_string(spec.epochs), batches_per_epoch,
                    !o.no_progress);
    double loss_sum = 0.0;
    long losses = 0, fed = 0;
    const auto collect = [&] {
      for (const LossRecord& r : pipeline.take_losses()) {
        loss_sum += r.loss;
        ++losses;
      }
    };
    const auto start = std::chrono::steady_clock::now();
    const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      std::vector<typename B::Tensor> views;
      for (const auto& v : batch->views)
        views.push_back(BackendKit<B>::upload(nn::Tensor::from({batch->n, batch->c, batch->h, batch->w}, v)));
      pipeline.set_learning_rate(lr_schedule.at(pipeline.batches_fed()));
      pipeline.feed(std::move(views), std::move(batch->labels));
      ++fed;
      collect();
      bar.update(fed, losses ? loss_sum / static_cast<double>(losses) : 0.0,
                 static_cast<double>(fed * o.batch_size) / std::max(1e-9, seconds()));
    }
    pipeline.flush();
    collect();
    bar.finish();

    EpochRecord record;
    record.phase = spec.name;
    record.epoch = epoch + 1;
    record.seconds = seconds();
    record.loss = losses ? loss_sum / static_cast<double>(losses) : 0.0;
    record.examples_per_second = static_cast<double>(fed * o.batch_size) / std::max(1e-9, record.seconds);
    record.accuracy = spec.measure == Measure::classifier
                          ? student_accuracy(pipeline, *data.test)
                          : linear_probe_accuracy(pipeline, spec.feature_blocks, data, o.probe_epochs,
                                                  static_cast<std::uint64_t>(o.seed) + 77);
    if (monitored) record.knn_accuracy = knn_accuracy(pipeline, spec.feature_blocks, spec.knn);
    result.history.push_back(record);
    std::printf("%s\n", epoch_line(record, spec.epochs).c_str());
    std::fflush(stdout);

    pipeline.save(checkpoint);  // before the state that points at it
    nlohmann::json state = {{"phase", spec.name}, {"epochs_done", epoch + 1}, {"step", pipeline.batches_fed()},
                            {"history", nlohmann::json::array()}};
    for (const auto& r : result.history) state["history"].push_back(to_json(r));
    write_file(state_path, state.dump(2) + "\n");
    write_file(dir / "trace.json", sim::chrome_trace(measured_since(pipeline, first_batch), spec.name + " (measured)", 1e6));
    write_file(dir / "timeline.svg",
               sim::svg_timeline(measured_since(pipeline, pipeline.batches_fed() - 2L * o.segment_batches),
                                 spec.name + ": measured pipeline timeline, last batches (seconds)"));
    if (++epochs_trained_by_this_process == o.stop_after)
      throw StopRequested("stopped after " + std::to_string(o.stop_after) + " epoch(s) (--stop-after); continue with --resume");
  }

  result.test_accuracy = result.history.empty() ? -1.0 : result.history.back().accuracy;
  nlohmann::json comparison;
  const std::string table = schedule_comparison(pipeline, comparison);
  result.summary = {{"epochs", spec.epochs}, {"test_accuracy", result.test_accuracy}, {"history", nlohmann::json::array()},
                    {"schedule_comparison", comparison}, {"schedule_comparison_text", table}};
  for (const auto& r : result.history) result.summary["history"].push_back(to_json(r));
  const auto timing = pipeline.timing_report();
  result.summary["measured_time_per_batch_s"] = timing.measured_time_per_batch;
  result.summary["predicted_time_per_batch_s"] = timing.predicted_time_per_batch;
  if (result.init_probe_accuracy >= 0.0) result.summary["init_probe_accuracy"] = result.init_probe_accuracy;
  if (monitored) {
    result.summary["init_knn_accuracy"] = result.init_knn_accuracy;
    result.summary["knn"] = {{"k", spec.knn.options.k}, {"temperature", spec.knn.options.temperature},
                             {"bank_images", spec.knn.bank->count}, {"query_images", spec.knn.queries->count}};
  }
  return result;
}

template <class B>
PhaseSpec<B> momentum_phase(std::string name, Blocks<B> teacher, Blocks<B> student,
                            std::shared_ptr<const typename Pipeline<B>::Loss> loss,
                            typename Pipeline<B>::OptimizerFactory make_optimizer, double tau0, int feature_blocks,
                            const CommonOptions& o) {
  if (!(tau0 >= 0.0 && tau0 <= 1.0)) throw UsageError("--tau0 " + std::to_string(tau0) + ": must lie in [0, 1]");
  PhaseSpec<B> spec;
  spec.name = std::move(name);
  spec.teacher = std::move(teacher);
  spec.student = std::move(student);
  spec.loss = std::move(loss);
  spec.make_optimizer = std::move(make_optimizer);
  spec.pipeline.views = 2;
  spec.pipeline.teacher = update::TeacherPolicy::momentum(tau0, o.staleness, o.warmup);
  spec.pipeline.teacher_uses_batch_statistics = true;
  spec.augment = data::ssl_views(data::fashion_mnist_normalization(), 28);
  spec.epochs = o.epochs;
  spec.measure = Measure::linear_probe;
  spec.feature_blocks = feature_blocks;
  return spec;
}

template <class B>
int run_self_supervised(const std::string& example, PhaseSpec<B> spec, const CommonOptions& o, const Datasets& data) {
  const auto started = std::chrono::steady_clock::now();
  const std::string name = spec.name;
  PhaseResult<B> phase = run_phase(std::move(spec), o, data);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("\nresult: linear-probe test accuracy %.2f%% (%d test images, frozen backbone, δ = %d), wall time %.1f s\n",
              100.0 * phase.test_accuracy, data.test->count, o.staleness, wall);
  if (phase.init_probe_accuracy >= 0.0)
    std::printf("        the same probe on the untrained backbone: %.2f%% (%+.2f pp from training)\n",
                100.0 * phase.init_probe_accuracy, 100.0 * (phase.test_accuracy - phase.init_probe_accuracy));
  std::printf("\n");
  std::printf("%s", phase.summary["schedule_comparison_text"].template get<std::string>().c_str());
  nlohmann::json results = {{"linear_probe_accuracy", phase.test_accuracy},
                            {"final_loss", phase.history.empty() ? 0.0 : phase.history.back().loss},
                            {"staleness", o.staleness}};
  if (phase.init_probe_accuracy >= 0.0) results["random_init_probe_accuracy"] = phase.init_probe_accuracy;
  if (phase.init_knn_accuracy >= 0.0) {
    const double trained = phase.history.empty() ? -1.0 : phase.history.back().knn_accuracy;
    std::printf("kNN monitor: %.2f%% after training, %.2f%% on the untrained backbone\n", 100.0 * trained,
                100.0 * phase.init_knn_accuracy);
    results["knn_accuracy"] = trained;
    results["random_init_knn_accuracy"] = phase.init_knn_accuracy;
  }
  write_run_outputs(example, o, {{name, &phase}}, results, wall);
  return 0;
}

void write_run_outputs(const std::string& example, const CommonOptions& o,
                       const std::vector<std::pair<std::string, const PhaseOutcome*>>& phases, const nlohmann::json& results,
                       double wall_seconds) {
  nlohmann::json summary = {{"example", example}, {"options", options_json(o)}, {"results", results},
                            {"wall_seconds", wall_seconds}, {"phases", nlohmann::json::object()}};
  std::vector<EpochRecord> history;
  std::vector<AccuracyReference> references;
  for (const auto& [name, phase] : phases) {
    summary["phases"][name] = phase->summary;
    history.insert(history.end(), phase->history.begin(), phase->history.end());
    if (phase->init_knn_accuracy >= 0.0) references.push_back({name + " kNN, random init", phase->init_knn_accuracy});
    if (phase->init_probe_accuracy >= 0.0) references.push_back({name + " probe, random init", phase->init_probe_accuracy});
  }
  const fs::path out(o.out);
  write_file(out / "summary.json", summary.dump(2) + "\n");
  write_file(out / "curve.svg", curve_svg(example + " on Fashion-MNIST", history, references));
  std::printf("wrote %s, %s and per-phase checkpoints, timelines (timeline.svg, trace.json) under %s\n",
              (out / "summary.json").string().c_str(), (out / "curve.svg").string().c_str(), out.string().c_str());
}

int guarded_main(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const StopRequested& e) {
    std::printf("%s: %s\n", program, e.what());
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

// Every template above, once per backend the examples are built with.
#define TSPIPE_EXAMPLES_INSTANTIATE(B)                                                                                 \
  template PhaseResult<B> run_phase<B>(PhaseSpec<B>, const CommonOptions&, const Datasets&);                           \
  template PhaseSpec<B> momentum_phase<B>(std::string, Blocks<B>, Blocks<B>, std::shared_ptr<const Pipeline<B>::Loss>, \
                                          Pipeline<B>::OptimizerFactory, double, int, const CommonOptions&);           \
  template int run_self_supervised<B>(const std::string&, PhaseSpec<B>, const CommonOptions&, const Datasets&);        \
  template double student_accuracy<B>(Pipeline<B>&, const data::Dataset&);                                             \
  template double linear_probe_accuracy<B>(Pipeline<B>&, int, const Datasets&, int, std::uint64_t);                    \
  template double knn_accuracy<B>(Pipeline<B>&, int, const KnnMonitor&);                                               \
  template void load_weights<B>(nn::Layer<B>&, const fs::path&, const std::string&);                                  \
  template std::string schedule_comparison<B>(const Pipeline<B>&, nlohmann::json&);

TSPIPE_EXAMPLES_INSTANTIATE(cpu::Backend)
#if TSPIPE_EXAMPLES_CUDA
TSPIPE_EXAMPLES_INSTANTIATE(cuda::Backend)
#endif

}  // namespace tspipe::examples
