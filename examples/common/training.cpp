#include "training.hpp"

#include "launch.hpp"
#include "run_state.hpp"

#include <tspipe/data/loader.hpp>
#include <tspipe/nn/annealing.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/planning/evaluate.hpp>
#include <tspipe/sim/export.hpp>
#if TSPIPE_EXAMPLES_MPI
#include <tspipe/distributed/mpi.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>
#include <type_traits>

namespace tspipe::examples {

namespace fs = std::filesystem;

namespace {

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

template <class B>
std::string schedule_comparison(const Pipeline<B>& pipeline, nlohmann::json& json) {
  const schedule::Workload w = pipeline.workload(16);
  const std::string chunks =
      w.chunks > 1 ? " × " + std::to_string(w.chunks) + " chunks (" + std::string(schedule::to_string(w.chunk_placement)) + ")" : "";
  std::string text = "schedule comparison on this run's profiled costs (S = " + std::to_string(w.stages) + chunks +
                     ", M = " + std::to_string(w.micro_batches) + ", V = " + std::to_string(w.views) + ", " +
                     (w.teacher == schedule::TeacherKind::momentum ? "momentum" : "frozen") + " teacher, δ = " +
                     std::to_string(w.staleness) + ", 16 batches simulated):\n";
  // The one-chunk generators plan the same model with each device's chunks as one stage; with
  // virtual stages, those that run chunks follow, on the run's own chunks ("name v=2").
  std::vector<std::pair<std::string, schedule::Workload>> rows;
  for (auto name : planning::generator_names()) rows.emplace_back(std::string(name), planning::one_chunk_per_device(w));
  if (w.chunks > 1) {
    for (auto name : planning::virtual_stage_generator_names()) rows.emplace_back(std::string(name), w);
    rows.emplace_back("tspipe", w);
  }
  const auto label_of = [&](const std::string& name, const schedule::Workload& planned) {
    return planned.chunks > 1 ? name + " v=" + std::to_string(planned.chunks) : name;
  };
  const std::string this_run = label_of(pipeline.options().schedule, w);
  constexpr std::size_t width = 26;
  text += "  schedule" + std::string(width - 10, ' ') + "time/batch    utilisation   speed-up vs sequential\n";
  json = nlohmann::json::array();
  for (const auto& [name, planned] : rows) {
    const std::string label = label_of(name, planned);
    std::string row = "  " + label + (label == this_run ? " *" : "");
    row.resize(std::max(width, row.size() + 1), ' ');
    auto evaluated = planning::evaluate(name, planned);
    if (!evaluated) {
      text += row + "n/a (" + evaluated.message() + ")\n";
      json.push_back({{"schedule", name}, {"chunks", planned.chunks}, {"error", evaluated.message()}});
      continue;
    }
    const auto& e = evaluated.value();
    text += row + fixed(1000.0 * e.result.time_per_batch, 2) + " ms" + std::string(6, ' ') +
            fixed(100.0 * e.result.utilisation, 1) + "%" + std::string(9, ' ') + fixed(e.speedup_vs_sequential, 2) + "x\n";
    json.push_back({{"schedule", name},
                    {"chunks", planned.chunks},
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
          {"schedule", o.schedule}, {"chunks", o.chunks}, {"chunk_placement", o.chunk_placement},
          {"staleness", o.staleness}, {"warmup", o.warmup}, {"epochs", o.epochs},
          {"batch_size", o.batch_size}, {"learning_rate", o.learning_rate}, {"weight_decay", o.weight_decay},
          {"lr_warmup_epochs", o.lr_warmup_epochs}, {"seed", o.seed}, {"out", o.out}, {"resume", o.resume},
          {"dataset", o.dataset}, {"data", o.data.empty() ? data::default_fashion_mnist_dir().string() : o.data},
          {"image_size", image_geometry(o).side},
          {"train_subset", o.train_subset}, {"test_subset", o.test_subset}, {"width", o.width},
          {"threads", o.threads}, {"segment_batches", o.segment_batches}, {"probe_epochs", o.probe_epochs},
          {"init_probe", o.init_probe}};
}

namespace {

using Metadata = std::map<std::string, std::string>;

/// The phase's pipeline: alone, in this process; under MPI, this rank's stage of it
/// (mpi::make_pipeline: rank 0's partition and cost model on every rank). Either way its
/// checkpoints carry `run_state` in their metadata, added as save() assembles them, so that the
/// weights and the epoch count are committed by one rename.
template <class B>
std::unique_ptr<Pipeline<B>> make_phase_pipeline(PhaseSpec<B>& spec, const PipelineOptions& options,
                                                 std::shared_ptr<const Metadata> run_state) {
  const auto build = [&](const PipelineOptions& o, std::shared_ptr<const typename Pipeline<B>::Loss> loss) {
    return std::make_unique<Pipeline<B>>(std::move(spec.teacher), std::move(spec.student), std::move(loss), spec.make_optimizer, o);
  };
  const auto add_state = [run_state](nn::SafetensorsContent& content) {
    for (const auto& [key, value] : *run_state) content.metadata[key] = value;
  };
  if (!launch().distributed()) {
    auto pipeline = build(options, spec.loss);
    typename Pipeline<B>::Distribution hooks;  // every stage here; only the checkpoint's content is added to
    hooks.gather_checkpoint = [add_state](nn::SafetensorsContent& content) {
      add_state(content);
      return true;
    };
    pipeline->set_distribution(std::move(hooks));
    return pipeline;
  }
#if TSPIPE_EXAMPLES_MPI
  if constexpr (std::is_same_v<B, cpu::Backend>) {
    namespace mpi = distributed::mpi;
    mpi::MpiSession& session = mpi_session();
    // The loss sees the whole batch, every replica's shard: InfoNCE needs every sample's
    // negatives, and each loss is then reported for the whole batch, as one process reports it.
    const auto loss = std::make_shared<mpi::GatheredLoss>(session, spec.loss);
    auto built = mpi::make_pipeline<B>(session, options, [&](const PipelineOptions& o) { return build(o, loss); });
    if (!built) throw AgreedError(built.message());  // every rank fails together
    auto pipeline = std::move(built).value();
    auto hooks = mpi::distribution<B>(session, *pipeline);
    hooks.gather_checkpoint = [gather = hooks.gather_checkpoint, add_state](nn::SafetensorsContent& content) {
      add_state(content);
      return gather(content);
    };
    pipeline->set_distribution(std::move(hooks));
    return pipeline;
  }
#endif
  throw Error("an MPI launch of the examples runs on the CPU backend");
}

/// Pipeline::save, or under MPI its collective form (every stage gathered to rank 0, which writes);
/// the run state rides in the checkpoint through make_phase_pipeline's hook.
template <class B>
void save_checkpoint(Pipeline<B>& pipeline, const fs::path& path) {
  if (!launch().distributed()) {
    pipeline.save(path);
  } else {
#if TSPIPE_EXAMPLES_MPI
    if (Status saved = distributed::mpi::save_checkpoint(mpi_session(), pipeline, path); !saved) throw Error(saved.message());
#endif
  }
  if (launch().prints()) file_written(path);
}

/// This replica's rows of a batch: all of them alone, shard r of R under MPI.
nn::Tensor replica_rows(nn::Tensor whole) {
  const Launch& l = launch();
  if (l.replicas() == 1) return whole;
  const int64_t shard = whole.size(0) / l.replicas();
  return runtime::TensorOps<nn::Tensor>::slice_rows(whole, shard * l.replica(), shard);
}
std::vector<int> replica_rows(std::vector<int> labels) {
  const Launch& l = launch();
  if (l.replicas() == 1 || labels.empty()) return labels;
  const auto shard = static_cast<std::ptrdiff_t>(labels.size()) / l.replicas();
  return {labels.begin() + shard * l.replica(), labels.begin() + shard * (l.replica() + 1)};
}

}  // namespace

template <class B>
PhaseResult<B> run_phase(PhaseSpec<B> spec, const CommonOptions& o, const Datasets& data) {
  const Launch& l = launch();
  const fs::path dir = fs::path(o.out) / spec.name;
  agreed([&] {
    if (l.prints()) fs::create_directories(dir);
  });
  const fs::path checkpoint = dir / "checkpoint.safetensors";

  const auto& source = spec.unlabeled && data.unlabeled ? data.unlabeled : data.train;
  if (o.batch_size > source->size())
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + ": larger than the training set (" + source->name() + ", " +
                     std::to_string(source->size()) + " images" + (o.train_subset ? " after --train-subset" : "") + ")");
  data::LoaderOptions lo;
  lo.batch_size = o.batch_size;  // the whole batch; each replica feeds its shard
  lo.seed = static_cast<std::uint64_t>(o.seed);
  lo.workers = 1;
  data::Loader loader(source, spec.augment, lo);
  const long batches_per_epoch = loader.batches_per_epoch();
  const long total_steps = batches_per_epoch * spec.epochs;

  PipelineOptions& po = spec.pipeline;
  po.stages = o.stages;
  po.micro_batches = o.micro_batches;
  po.schedule = o.schedule;
  po.chunks = o.chunks;
  po.chunk_placement = chunk_placement(o);
  po.batch_size = o.batch_size / l.replicas();
  po.input_shape = {data.geometry.channels, data.geometry.side, data.geometry.side};
  po.segment_batches = o.segment_batches;
  if (po.teacher.is_momentum()) {
    if (o.warmup > total_steps)
      throw UsageError("--warmup " + std::to_string(o.warmup) + ": longer than the " + spec.name + " phase (" + std::to_string(total_steps) +
                       " batches), in which every batch would read the exact teacher: --staleness 0 says that");
    po.teacher.staleness = o.staleness;
    po.teacher.warmup = o.warmup;
    po.teacher.tau.shape = update::TauSchedule::Shape::cosine_to_one;
    po.teacher.tau.total_steps = total_steps;
  }
  // OpenBLAS threads: the CPU backend's stages share the cores (under MPI, the ranks on this
  // machine do, a stage each); on a GPU only the probe uses them.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int sharing = !std::is_same_v<B, cpu::Backend> ? 1 : l.distributed() ? processes_on_this_machine() : o.stages;
  cpu::Backend::set_threads(o.threads > 0 ? o.threads : std::max(1, cores / sharing));

  const nlohmann::json flags = run_defining_flags(o, spec.epochs);
  const auto run_state = std::make_shared<Metadata>();
  PhaseResult<B> result;
  result.pipeline = make_phase_pipeline(spec, po, run_state);
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
    result.init_knn_accuracy = knn_accuracy(pipeline, spec.feature_blocks, spec.knn, data);
    std::printf("%s: kNN monitor on the untrained (randomly initialised) backbone: %.2f%%\n", spec.name.c_str(),
                100.0 * result.init_knn_accuracy);
    std::fflush(stdout);
  }

  int first_epoch = 0;
  if (o.resume) {
    const bool saved = fs::exists(checkpoint);
    const double seen = sum_over_processes({saved ? 1.0 : 0.0})[0];
    if (seen != 0.0 && seen != l.world_size)
      throw AgreedError(checkpoint.string() + ": seen by " + std::to_string(static_cast<int>(seen)) + " of " + std::to_string(l.world_size) +
                        " ranks; --out must be on a file system every rank sees");
    if (saved) {
      PhaseState state = agreed([&] {
        PhaseState s = read_phase_state(checkpoint, spec.name, flags);
        if (s.batches_per_epoch != batches_per_epoch)
          throw UsageError(checkpoint.string() + ": trained with " + std::to_string(s.batches_per_epoch) + " batches per epoch, this run has " +
                           std::to_string(batches_per_epoch) + " (another --data?)");
        pipeline.load(checkpoint);
        if (pipeline.batches_fed() != s.epochs_done * batches_per_epoch)
          throw Error(checkpoint.string() + ": holds step " + std::to_string(pipeline.batches_fed()) + ", its metadata " +
                      std::to_string(s.epochs_done) + " epochs of " + std::to_string(batches_per_epoch) + " batches");
        return s;
      });
      result.history = std::move(state.history);
      first_epoch = state.epochs_done;
      std::printf("%s: resumed after epoch %d of %d from %s\n", spec.name.c_str(), first_epoch, spec.epochs, checkpoint.string().c_str());
    }
  }

  const nn::WarmupCosineLR lr_schedule(o.learning_rate, std::min<long>(total_steps, o.lr_warmup_epochs * batches_per_epoch),
                                       total_steps);
  // Losses are reported where the last stage runs: here alone; under MPI, by replica 0's last
  // rank, for the whole batch (GatheredLoss).
  const int reporting_rank = l.rank_of(0, l.stages - 1);
  for (int epoch = first_epoch; epoch < spec.epochs; ++epoch) {
    const long first_batch = pipeline.batches_fed();
    ProgressBar bar(spec.name + " " + std::to_string(epoch + 1) + "/" + std::to_string(spec.epochs), batches_per_epoch,
                    !o.no_progress && l.prints());
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
        views.push_back(BackendKit<B>::upload(replica_rows(nn::Tensor::from({batch->n, batch->c, batch->h, batch->w}, v))));
      pipeline.set_learning_rate(lr_schedule.at(pipeline.batches_fed()));
      pipeline.feed(std::move(views), replica_rows(std::move(batch->labels)));
      ++fed;
      collect();
      bar.update(fed, l.rank == reporting_rank ? (losses ? loss_sum / static_cast<double>(losses) : 0.0) : std::nan(""),
                 static_cast<double>(fed * o.batch_size) / std::max(1e-9, seconds()));
    }
    pipeline.flush();
    collect();
    bar.finish();
    if (l.distributed()) {
      const std::vector<double> reported = shared_from(reporting_rank, std::vector<double>{loss_sum, static_cast<double>(losses)});
      loss_sum = reported.at(0);
      losses = static_cast<long>(reported.at(1));
    }

    EpochRecord record;
    record.phase = spec.name;
    record.epoch = epoch + 1;
    record.seconds = seconds();
    record.loss = losses ? loss_sum / static_cast<double>(losses) : 0.0;
    record.examples_per_second = static_cast<double>(fed * o.batch_size) / std::max(1e-9, record.seconds);
    record.accuracy = spec.measure == Measure::classifier
                          ? student_accuracy(pipeline, data)
                          : linear_probe_accuracy(pipeline, spec.feature_blocks, data, o.probe_epochs,
                                                  static_cast<std::uint64_t>(o.seed) + 77);
    if (monitored) record.knn_accuracy = knn_accuracy(pipeline, spec.feature_blocks, spec.knn, data);
    result.history.push_back(record);
    std::printf("%s\n", epoch_line(record, spec.epochs).c_str());
    std::fflush(stdout);

    // The checkpoint is the phase's whole resumable state: it carries the epochs done with it.
    run_state->clear();
    put_phase_state({spec.name, epoch + 1, batches_per_epoch, result.history}, flags, *run_state);
    save_checkpoint(pipeline, checkpoint);
    // Under MPI, rank 0's trace holds its own stage only; the measured timelines are written alone.
    if (!l.distributed()) {
      write_file(dir / "trace.json", sim::chrome_trace(measured_since(pipeline, first_batch), spec.name + " (measured)", 1e6));
      write_file(dir / "timeline.svg",
                 sim::svg_timeline(measured_since(pipeline, pipeline.batches_fed() - 2L * o.segment_batches),
                                   spec.name + ": measured pipeline timeline, last batches (seconds)"));
    }
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
                             {"bank_images", spec.knn.bank->size()}, {"query_images", spec.knn.queries->size()}};
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
  spec.unlabeled = true;
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
              100.0 * phase.test_accuracy, static_cast<int>(data.test->size()), o.staleness, wall);
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
  if (!launch().prints()) return;  // one process writes the run's files
  write_file(out / "summary.json", summary.dump(2) + "\n");
  write_file(out / "curve.svg", curve_svg(example + " on " + dataset_title(o.dataset), history, references));
  std::printf("wrote %s, %s and per-phase checkpoints%s under %s\n", (out / "summary.json").string().c_str(),
              (out / "curve.svg").string().c_str(), launch().distributed() ? "" : ", timelines (timeline.svg, trace.json)",
              out.string().c_str());
}

int guarded_main(const char* program, const std::function<int()>& body) {
  silence_other_ranks();
  // Under MPI, what every rank knows of (a usage error, an agreed failure, --stop-after) ends
  // each rank the normal way, rank 0 printing; a failure of this rank alone ends the whole job.
  const bool prints = launch().prints();
  int code = 0;
  try {
    code = body();
  } catch (const StopRequested& e) {
    std::printf("%s: %s\n", program, e.what());
  } catch (const UsageError& e) {
    if (prints) std::fprintf(stderr, "%s: %s\n", program, e.what());
    code = 2;
  } catch (const AgreedError& e) {
    if (prints) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    code = 1;
  } catch (const std::exception& e) {
    abort_launch(std::string(program) + ": error: " + e.what());
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    code = 1;
  }
  std::fflush(nullptr);
  end_launch();
  return code;
}

// Every template above, once per backend the examples are built with.
#define TSPIPE_EXAMPLES_INSTANTIATE(B)                                                                                 \
  template PhaseResult<B> run_phase<B>(PhaseSpec<B>, const CommonOptions&, const Datasets&);                           \
  template PhaseSpec<B> momentum_phase<B>(std::string, Blocks<B>, Blocks<B>, std::shared_ptr<const Pipeline<B>::Loss>, \
                                          Pipeline<B>::OptimizerFactory, double, int, const CommonOptions&);           \
  template int run_self_supervised<B>(const std::string&, PhaseSpec<B>, const CommonOptions&, const Datasets&);        \
  template std::string schedule_comparison<B>(const Pipeline<B>&, nlohmann::json&);

TSPIPE_EXAMPLES_INSTANTIATE(cpu::Backend)
#if TSPIPE_EXAMPLES_CUDA
TSPIPE_EXAMPLES_INSTANTIATE(cuda::Backend)
#endif

}  // namespace tspipe::examples
