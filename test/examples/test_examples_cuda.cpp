// The examples on the CUDA backend (`gpu` label; exits 77 without a device): each lowers its loss
// through a pipeline of device stages, and resnet_kd's first epoch on the GPU matches the same
// run on the CPU (same initial weights, data order and augmentations: only the float rounding of
// the kernels differs, so the epoch's mean loss agrees closely).
#include "run_example.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace {

using namespace tspipe::test;

const std::string small = " --train-subset 512 --test-subset 500 --batch-size 64 --no-progress" + data_flag();

}  // namespace

TEST_CASE("resnet_kd --backend cuda lowers every phase's loss and matches the CPU run's first epoch") {
  const fs::path gpu = scratch("kd_cuda"), cpu = scratch("kd_cpu");
  const std::string kd = example(TSPIPE_RESNET_KD) + small + " --width 0.0625 --teacher-width 0.125";
  REQUIRE_MESSAGE(run(kd + " --backend cuda --epochs 3 --out " + gpu.string(), gpu / "log.txt") == 0, read(gpu / "log.txt"));
  const auto s = summary(gpu);
  CHECK(s.at("options").at("backend") == "cuda");
  for (const char* phase : {"teacher", "student_alone", "distilled"}) {
    INFO(phase);
    check_loss_lowers(s.at("phases").at(phase).at("history"));
  }
  CHECK(s.at("results").at("teacher_accuracy").get<double>() > 0.3);

  REQUIRE_MESSAGE(run(kd + " --backend cpu --epochs 3 --stop-after 1 --out " + cpu.string(), cpu / "log.txt") == 0,
                  read(cpu / "log.txt"));
  const double on_cpu = run_state(cpu / "teacher" / "checkpoint.safetensors").at("history").at(0).at("loss").get<double>();
  const double on_gpu = s.at("phases").at("teacher").at("history").at(0).at("loss").get<double>();
  INFO("teacher's first-epoch loss: cpu " << on_cpu << ", cuda " << on_gpu);
  CHECK(std::abs(on_gpu - on_cpu) <= 1e-3 * std::abs(on_cpu) + 1e-4);
}

TEST_CASE("byol_resnet and mocov3_vit --backend cuda lower their loss (momentum teacher, δ = 1)") {
  const fs::path byol = scratch("byol_cuda"), moco = scratch("moco_cuda");
  REQUIRE_MESSAGE(run(example(TSPIPE_BYOL_RESNET) + small + " --backend cuda --epochs 3 --probe-epochs 5 --out " + byol.string(),
                      byol / "log.txt") == 0,
                  read(byol / "log.txt"));
  check_loss_lowers(summary(byol).at("phases").at("byol").at("history"));
  REQUIRE_MESSAGE(run(example(TSPIPE_MOCOV3_VIT) + small + " --backend cuda --epochs 3 --probe-epochs 5 --out " + moco.string(),
                      moco / "log.txt") == 0,
                  read(moco / "log.txt"));
  check_loss_lowers(summary(moco).at("phases").at("mocov3").at("history"));
}
