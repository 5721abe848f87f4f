// Pipelines of S = 2…4 stages on ONE GPU, each stage on its own thread and stream:
// * a hand-rolled GPipe order over NcclTransport (same-device hand-over with events), M = 2: the
//   loss and every parameter gradient equal the CPU backend's single-stage run on the whole batch;
// * tspipe::Pipeline<cuda::Backend> itself (device losses, optimizers, fused EMA, device teacher
//   versions): a KD run with a frozen teacher and an SSL-style run with a momentum teacher (δ = 1)
//   equal Pipeline<cpu::Backend> on the same models, options and batches — losses, student and
//   teacher parameters, teacher versions held — and a host loss through cuda::HostLoss as well;
//   checkpoints saved on either backend continue on the other.
#include "compare.hpp"

#include <tspipe/cuda/losses.hpp>
#include <tspipe/cuda/nccl_transport.hpp>
#include <tspipe/cuda/optim.hpp>
#include <tspipe/cuda/pipeline.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/models/vit.hpp>

#include <chrono>
#include <filesystem>
#include <thread>
#include <type_traits>

using namespace tspipe;
using tspipe::test::check_close;
using CB = cpu::Backend;
using GB = cuda::Backend;

namespace {
nn::models::ViTConfig config() {
  return {.image_size = 16, .patch = 4, .dim = 32, .depth = 4, .heads = 4, .num_classes = 6, .seed = 5};
}
}  // namespace

TEST_CASE("pipelines of 2, 3 and 4 stages on one GPU equal the CPU run") {
  const int batch = 4, micro = 2;
  const nn::Tensor x = nn::Tensor::randn({batch, 3, 16, 16}, 11);
  const std::vector<int> labels{1, 5, 0, 3};

  // CPU reference: the whole batch on one stage.
  nn::Sequential<CB> ref(nn::models::vit<CB>(config()));
  auto [ry, rctx] = ref.forward(x);
  const nn::LossOutput rl =
      nn::CrossEntropyLoss{}.compute({{{ry.data(), batch, static_cast<int>(ry.size(1))}}, {}, labels});
  ref.backward(rctx, nn::Tensor::from(ry.shape(), rl.d_student[0]));

  for (int stages = 2; stages <= 4; ++stages) {
    CAPTURE(stages);
    auto blocks = nn::models::vit<GB>(config());  // patch_embed, 4 blocks, head = 6 layers
    std::vector<nn::Sequential<GB>> parts(static_cast<size_t>(stages));
    for (size_t i = 0; i < blocks.size(); ++i)
      parts[std::min(i * static_cast<size_t>(stages) / blocks.size(), static_cast<size_t>(stages - 1))].add(
          "", std::move(blocks[i]));
    auto transport = cuda::NcclTransport::create(std::vector<int>(static_cast<size_t>(stages), 0));
    REQUIRE_MESSAGE(transport.ok(), transport.message());
    cuda::NcclTransport& net = *transport.value();
    const auto timeout = std::chrono::milliseconds(60000);
    double loss = 0.0;
    std::vector<std::string> failures(static_cast<size_t>(stages));
    std::vector<std::thread> workers;
    for (int s = 0; s < stages; ++s)
      workers.emplace_back([&, s] {
        try {
          cuda::StreamGuard guard(cuda::Stream::create(cuda::Device{0}));
          auto& part = parts[static_cast<size_t>(s)];
          std::vector<nn::Context<GB>> ctx(micro);
          std::vector<cuda::Tensor> outputs(micro);
          for (int u = 0; u < micro; ++u) {  // all forwards
            cuda::Tensor in;
            if (s == 0) {
              nn::Tensor slice({batch / micro, 3, 16, 16});
              std::copy_n(x.data() + u * slice.numel(), slice.numel(), slice.data());
              in = cuda::Tensor::from_host(slice);
            } else {
              in = net.receive(s, {schedule::ActionKind::StudentForward, 0, 0, u}, timeout).value();
            }
            auto [y, c] = part.forward(in);
            ctx[static_cast<size_t>(u)] = std::move(c);
            if (s + 1 < stages) net.send(s + 1, {schedule::ActionKind::StudentForward, 0, 0, u}, y, timeout).throw_if_error();
            else outputs[static_cast<size_t>(u)] = y;
          }
          for (int u = micro; u-- > 0;) {  // all backwards
            cuda::Tensor dy;
            if (s + 1 == stages) {
              // The loss of the whole batch, split back per micro-batch (mean over 4 rows).
              const std::vector<int> mb(labels.begin() + u * 2, labels.begin() + u * 2 + 2);
              const cuda::LossOutput l = cuda::CrossEntropyLoss{}.compute({{outputs[static_cast<size_t>(u)]}, {}, mb});
              loss += l.loss / micro;
              dy = l.d_student[0];
              const nn::Tensor grad = dy.to_host();
              nn::Tensor scaled(grad.shape());
              for (int64_t i = 0; i < grad.numel(); ++i) scaled[i] = grad[i] / micro;
              dy = cuda::Tensor::from_host(scaled);
            } else {
              dy = net.receive(s, {schedule::ActionKind::StudentBackward, 0, 0, u}, timeout).value();
            }
            cuda::Tensor dx = part.backward(ctx[static_cast<size_t>(u)], dy);
            if (s > 0) net.send(s - 1, {schedule::ActionKind::StudentBackward, 0, 0, u}, dx, timeout).throw_if_error();
          }
          cuda::current_stream().synchronize();
        } catch (const std::exception& e) {
          failures[static_cast<size_t>(s)] = e.what();
          net.stop(std::string("stage ") + std::to_string(s) + " failed: " + e.what());
        }
      });
    for (auto& w : workers) w.join();
    for (const auto& f : failures) CHECK_MESSAGE(f.empty(), f);
    CHECK(net.pending() == 0);
    CHECK(loss == doctest::Approx(rl.loss).epsilon(5e-4));
    std::map<std::string, cuda::Parameter> by_name;
    for (auto& part : parts)
      for (auto& p : part.parameters()) by_name.emplace(p.name, p);
    for (auto& p : ref.parameters()) {
      REQUIRE(by_name.count(p.name) == 1);
      check_close(*by_name.at(p.name).grad, *p.grad, p.name + " (grad)", 5e-4);
    }
  }
}

namespace {

/// What a pipeline run leaves: its losses, parameters (host copies) and teacher versions held.
struct Run {
  std::vector<double> losses;
  std::map<std::string, nn::Tensor> student, teacher;
  std::vector<std::vector<long>> versions;
};

template <class Backend>
typename Backend::Tensor on_backend(const nn::Tensor& t) {
  if constexpr (std::is_same_v<Backend, GB>) return cuda::Tensor::from_host(t);
  else return t;
}

/// Which batches a run feeds, and the checkpoint it starts from or ends with (none when empty).
struct Plan {
  int first = 0;
  int batches = 3;  // two segments of two batches at most
  std::filesystem::path load_from, save_to;
};

/// Batches through Pipeline<Backend>: S stages with fixed cuts, M = 2, two batches per segment.
template <class Backend>
Run run_pipeline(int stages, bool momentum, std::shared_ptr<const typename Pipeline<Backend>::Loss> loss,
                 typename Pipeline<Backend>::OptimizerFactory make_optimizer, const Plan& plan = {}) {
  using Ops = runtime::TensorOps<typename Backend::Tensor>;
  PipelineOptions o;
  o.stages = stages;
  o.micro_batches = 2;
  o.batch_size = 4;
  o.input_shape = {3, 16, 16};
  o.segment_batches = 2;
  o.watchdog = std::chrono::milliseconds(60000);
  if (momentum) o.teacher = update::TeacherPolicy::momentum(0.9, 1);
  const int blocks = static_cast<int>(nn::models::vit<CB>(config()).size());
  for (int s = 1; s < stages; ++s) {  // the same cuts on both backends (not profiled ones)
    o.teacher_cuts.push_back(s * blocks / stages);
    o.student_cuts.push_back(s * blocks / stages);
  }
  // The teacher starts from other weights than the student (same names, which a momentum teacher
  // pairs by): the loss and the EMA then move something from the first batch on.
  nn::models::ViTConfig teacher_config = config();
  teacher_config.seed = 9;
  Pipeline<Backend> pipeline(nn::models::vit<Backend>(teacher_config), nn::models::vit<Backend>(config()), loss,
                             make_optimizer, o);
  if (!plan.load_from.empty()) pipeline.load(plan.load_from);
  for (int b = plan.first; b < plan.first + plan.batches; ++b) {
    const nn::Tensor x = nn::Tensor::randn({4, 3, 16, 16}, 100 + static_cast<uint64_t>(b));
    pipeline.feed({on_backend<Backend>(x)}, {b % 6, (b + 1) % 6, 5, 2});
  }
  pipeline.flush();
  if (!plan.save_to.empty()) pipeline.save(plan.save_to);
  Run run;
  for (const auto& record : pipeline.take_losses()) run.losses.push_back(record.loss);
  for (auto& p : pipeline.student_parameters()) run.student[p.name] = Ops::to_host(*p.value).clone();
  for (auto& p : pipeline.teacher_parameters()) run.teacher[p.name] = Ops::to_host(*p.value).clone();
  run.versions = pipeline.teacher_versions_held();
  return run;
}

void check_same_run(const Run& gpu, const Run& cpu) {
  REQUIRE(gpu.losses.size() == cpu.losses.size());
  for (size_t b = 0; b < cpu.losses.size(); ++b) CHECK(gpu.losses[b] == doctest::Approx(cpu.losses[b]).epsilon(5e-4));
  CHECK(gpu.versions == cpu.versions);
  for (auto side : {&Run::student, &Run::teacher}) {
    const auto& g = gpu.*side;
    const auto& c = cpu.*side;
    REQUIRE(g.size() == c.size());
    for (const auto& [name, value] : c) {
      REQUIRE(g.count(name) == 1);
      const double err = tspipe::test::relative_error(g.at(name), value);
      INFO(name << ": relative error " << err);
      CHECK(err <= 5e-4);
    }
  }
}

nn::SgdOptions sgd_options() { return {.learning_rate = 0.05, .momentum = 0.9, .weight_decay = 1e-4f, .nesterov = true}; }

/// The same pipeline on the CPU and on the GPU, each with its own backend's loss, compared;
/// returns the CPU run.
Run compare_with_cpu(int stages, bool momentum, std::shared_ptr<const nn::Loss> cpu_loss,
                     std::shared_ptr<const cuda::Loss> gpu_loss) {
  const Run cpu = run_pipeline<CB>(stages, momentum, std::move(cpu_loss), [] { return std::make_unique<nn::Sgd>(sgd_options()); });
  const Run gpu = run_pipeline<GB>(stages, momentum, std::move(gpu_loss), [] { return std::make_unique<cuda::Sgd>(sgd_options()); });
  check_same_run(gpu, cpu);
  return cpu;
}

}  // namespace

TEST_CASE("Pipeline<cuda::Backend>: KD with a frozen teacher, S = 2, 3, 4 on one GPU, equals Pipeline<cpu::Backend>") {
  for (int stages = 2; stages <= 4; ++stages) {
    CAPTURE(stages);
    compare_with_cpu(stages, false, std::make_shared<nn::SoftTargetKDLoss>(), std::make_shared<cuda::SoftTargetKDLoss>());
  }
}

TEST_CASE("Pipeline<cuda::Backend>: momentum teacher (δ = 1, device EMA and versions), S = 2…4, equals the CPU run") {
  for (int stages = 2; stages <= 4; ++stages) {
    CAPTURE(stages);
    const Run cpu = compare_with_cpu(stages, true, std::make_shared<nn::MseLoss>(), std::make_shared<cuda::MseLoss>());
    CHECK(cpu.versions.front().size() == 2);  // δ = 1 holds ξ_{N−1} beside ξ_N
    // A host loss on device outputs (copied to the host and back) gives the same run.
    compare_with_cpu(stages, true, std::make_shared<nn::MseLoss>(),
                     std::make_shared<cuda::HostLoss>(std::make_shared<nn::MseLoss>()));
  }
}

TEST_CASE("Pipeline<cuda::Backend> checkpoints (device teacher versions, optimizer state) move between backends") {
  // Saved on one backend after two batches, loaded on the other, one more batch: the same as
  // three batches on the CPU without a break.
  const auto dir = std::filesystem::temp_directory_path();
  const auto from_gpu = dir / "tspipe_cuda_pipeline_from_gpu.safetensors";
  const auto from_cpu = dir / "tspipe_cuda_pipeline_from_cpu.safetensors";
  const auto cpu_loss = std::make_shared<nn::MseLoss>();
  const auto gpu_loss = std::make_shared<cuda::MseLoss>();
  const auto cpu_sgd = [] { return std::make_unique<nn::Sgd>(sgd_options()); };
  const auto gpu_sgd = [] { return std::make_unique<cuda::Sgd>(sgd_options()); };
  Run whole = run_pipeline<CB>(2, true, cpu_loss, cpu_sgd);
  whole.losses.erase(whole.losses.begin(), whole.losses.begin() + 2);  // the resumed runs report batch 2 only
  run_pipeline<GB>(2, true, gpu_loss, gpu_sgd, {.first = 0, .batches = 2, .load_from = {}, .save_to = from_gpu});
  run_pipeline<CB>(2, true, cpu_loss, cpu_sgd, {.first = 0, .batches = 2, .load_from = {}, .save_to = from_cpu});
  SUBCASE("GPU checkpoint, CPU continues") {
    check_same_run(run_pipeline<CB>(2, true, cpu_loss, cpu_sgd, {.first = 2, .batches = 1, .load_from = from_gpu, .save_to = {}}), whole);
  }
  SUBCASE("CPU checkpoint, GPU continues") {
    check_same_run(run_pipeline<GB>(2, true, gpu_loss, gpu_sgd, {.first = 2, .batches = 1, .load_from = from_cpu, .save_to = {}}), whole);
  }
  std::filesystem::remove(from_gpu);
  std::filesystem::remove(from_cpu);
}
