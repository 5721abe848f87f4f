// The examples as users run them: each trains for a few epochs on a small subset and must lower
// its loss; a run stopped after one epoch and resumed must finish exactly like the uninterrupted
// one (same losses, same accuracy, the same checkpoint tensors bit for bit); bad input exits 2
// naming the flag.
#include "run_example.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace {

using namespace tspipe::test;

// Small and fast: 256 images, batches of 32, the examples' own defaults otherwise.
const std::string small = " --train-subset 256 --test-subset 200 --batch-size 32 --threads 1 --no-progress";
const std::string probe = " --probe-epochs 5";

}  // namespace

TEST_CASE("resnet_kd: a few epochs lower every phase's loss; the run writes its outputs") {
  const fs::path out = scratch("kd");
  const std::string cmd = std::string(TSPIPE_RESNET_KD) + small + " --epochs 3 --width 0.0625 --teacher-width 0.125 --out " + out.string();
  REQUIRE_MESSAGE(run(cmd, out / "log.txt") == 0, read(out / "log.txt"));
  const auto s = summary(out);
  for (const char* phase : {"teacher", "student_alone", "distilled"}) {
    INFO(phase);
    check_loss_lowers(s.at("phases").at(phase).at("history"));
    CHECK(fs::file_size(out / phase / "checkpoint.safetensors") > 0);
    CHECK(read(out / phase / "timeline.svg").find("<svg") == 0);
    CHECK(read(out / phase / "trace.json").find("traceEvents") != std::string::npos);
  }
  CHECK(s.at("results").at("teacher_accuracy").get<double>() > 0.1);  // better than chance (10 classes)
  const std::string backend = s.at("options").at("backend");  // auto, resolved once
  CHECK((backend == "cpu" || backend == "cuda"));
  CHECK(read(out / "curve.svg").find("<svg") == 0);
  CHECK(read(out / "log.txt").find("schedule comparison") != std::string::npos);
}

TEST_CASE("resnet_kd: a compact teacher trained alone (--teacher-only) is reused through --teacher-checkpoint") {
  const fs::path first = scratch("kd_teacher"), second = scratch("kd_reuse");
  const std::string base = std::string(TSPIPE_RESNET_KD) + small + " --teacher-depth 8 --teacher-width 0.125 --crop-pad 2";
  REQUIRE_MESSAGE(run(base + " --teacher-only --epochs 3 --out " + first.string(), first / "log.txt") == 0, read(first / "log.txt"));
  const auto s = summary(first);
  check_loss_lowers(s.at("phases").at("teacher").at("history"));
  CHECK_FALSE(s.at("phases").contains("student_alone"));
  CHECK_FALSE(fs::exists(first / "student_alone"));
  const double teacher = s.at("results").at("teacher_accuracy").get<double>();
  CHECK(teacher > 0.1);
  // The students distil from the saved teacher, which tests exactly as it did when trained.
  const fs::path checkpoint = first / "teacher" / "checkpoint.safetensors";
  REQUIRE_MESSAGE(run(base + " --epochs 1 --width 0.0625 --teacher-checkpoint " + checkpoint.string() + " --out " + second.string(),
                      second / "log.txt") == 0,
                  read(second / "log.txt"));
  const auto r = summary(second).at("results");
  CHECK(r.at("teacher_accuracy").get<double>() == teacher);
  // A teacher built with other flags does not fit the file: every misfit tensor named, exit 1.
  check_refused(std::string(TSPIPE_RESNET_KD) + small + " --teacher-depth 8 --teacher-width 0.25 --epochs 1 --teacher-checkpoint " +
                    checkpoint.string() + " --out " + (second / "wide").string(),
                second / "wide.txt", 1, "weights '" + checkpoint.string() + "'");
  CHECK(r.at("distilled_accuracy").get<double>() > 0.0);
  CHECK(r.at("student_alone_accuracy").get<double>() > 0.0);
}

TEST_CASE("byol_resnet: a few epochs lower the BYOL loss; --init-probe reports the untrained backbone's probe") {
  const fs::path out = scratch("byol");
  const std::string cmd =
      std::string(TSPIPE_BYOL_RESNET) + small + probe + " --epochs 3 --width 0.125 --init-probe --out " + out.string();
  REQUIRE_MESSAGE(run(cmd, out / "log.txt") == 0, read(out / "log.txt"));
  const auto s = summary(out);
  check_loss_lowers(s.at("phases").at("byol").at("history"));
  const double baseline = s.at("results").at("random_init_probe_accuracy").get<double>();
  CHECK(baseline > 0.0);
  CHECK(baseline <= 1.0);
  CHECK(s.at("phases").at("byol").at("init_probe_accuracy").get<double>() == baseline);
  CHECK(read(out / "log.txt").find("untrained backbone") != std::string::npos);
}

TEST_CASE("mocov3_vit: a few epochs lower the InfoNCE loss") {
  const fs::path out = scratch("moco");
  const std::string cmd = std::string(TSPIPE_MOCOV3_VIT) + small + probe + " --epochs 3 --out " + out.string();
  REQUIRE_MESSAGE(run(cmd, out / "log.txt") == 0, read(out / "log.txt"));
  check_loss_lowers(summary(out).at("phases").at("mocov3").at("history"));
}

TEST_CASE("mocov3_vit: stopped after one epoch and resumed equals the uninterrupted run (momentum teacher, δ = 1)") {
  const fs::path whole = scratch("moco_whole"), parts = scratch("moco_parts");
  const std::string base = std::string(TSPIPE_MOCOV3_VIT) + small + probe + " --epochs 2 --vit-depth 2";
  REQUIRE(run(base + " --out " + whole.string(), whole / "log.txt") == 0);
  REQUIRE(run(base + " --stop-after 1 --out " + parts.string(), parts / "log1.txt") == 0);
  CHECK_FALSE(fs::exists(parts / "summary.json"));
  REQUIRE_MESSAGE(run(base + " --resume --out " + parts.string(), parts / "log2.txt") == 0, read(parts / "log2.txt"));
  const auto a = summary(whole).at("phases").at("mocov3").at("history");
  const auto b = summary(parts).at("phases").at("mocov3").at("history");
  REQUIRE(a.size() == 2);
  REQUIRE(b.size() == 2);
  for (int e = 0; e < 2; ++e) {
    CHECK(a[e].at("loss").get<double>() == b[e].at("loss").get<double>());
    CHECK(a[e].at("accuracy").get<double>() == b[e].at("accuracy").get<double>());
  }
  check_same_training_state(whole / "mocov3" / "checkpoint.safetensors", parts / "mocov3" / "checkpoint.safetensors");
}

TEST_CASE("resnet_kd: resume skips finished phases and equals the uninterrupted run") {
  const fs::path whole = scratch("kd_whole"), parts = scratch("kd_parts");
  const std::string base = std::string(TSPIPE_RESNET_KD) + small + " --epochs 1 --width 0.0625 --teacher-width 0.0625";
  REQUIRE(run(base + " --out " + whole.string(), whole / "log.txt") == 0);
  REQUIRE(run(base + " --stop-after 2 --out " + parts.string(), parts / "log1.txt") == 0);  // teacher + student alone
  REQUIRE_MESSAGE(run(base + " --resume --out " + parts.string(), parts / "log2.txt") == 0, read(parts / "log2.txt"));
  const auto a = summary(whole).at("results"), b = summary(parts).at("results");
  for (const char* key : {"teacher_accuracy", "student_alone_accuracy", "distilled_accuracy"}) {
    INFO(key);
    CHECK(a.at(key).get<double>() == b.at(key).get<double>());
  }
  for (const char* phase : {"teacher", "student_alone", "distilled"})
    check_same_training_state(whole / phase / "checkpoint.safetensors", parts / phase / "checkpoint.safetensors");
}

TEST_CASE("resnet_kd --schedule sequential runs whole batches (M = 1), saying so") {
  const fs::path out = scratch("kd_sequential");
  const std::string cmd = std::string(TSPIPE_RESNET_KD) + small + " --epochs 1 --width 0.0625 --teacher-width 0.0625 --teacher-only" +
                          " --schedule sequential --micro-batches 8 --out " + out.string();
  REQUIRE_MESSAGE(run(cmd, out / "log.txt") == 0, read(out / "log.txt"));
  CHECK(read(out / "log.txt").find("--schedule sequential runs whole batches: --micro-batches 8 becomes 1") != std::string::npos);
  CHECK(summary(out).at("options").at("micro_batches") == 1);
}

// Virtual stages compute what one chunk per device computes (docs/design.md §2.9): each chunk's
// optimizer steps its own parameters, and a parameter's gradient is summed over the micro-batches
// in the order their backwards run. interleaved-1f1b and zbv run a batch's backwards first
// micro-batch first (FIFO), as 1f1b does, so they must match a one-chunk 1f1b run bit for bit:
// every phase's losses and accuracies. gpipe runs them last micro-batch first (LIFO), and float
// addition is not associative, so against it the losses agree only to rounding (docs/design.md
// §1.7, the loss contract) — and so may the accuracies of these near-chance models on 100 test
// images, where a rounding can move a prediction.
TEST_CASE("resnet_kd with virtual stages (--chunks 2, interleaved and V-shaped) trains as one chunk per device does, and resumes") {
  const std::string base = std::string(TSPIPE_RESNET_KD) +
                           " --train-subset 128 --test-subset 100 --batch-size 32 --epochs 1 --teacher-epochs 1 --width 0.0625"
                           " --teacher-width 0.0625 --threads 1 --no-progress";
  const auto trained = [&](const std::string& name, const std::string& flags) {
    const fs::path out = scratch(name);
    REQUIRE_MESSAGE(run(base + " " + flags + " --out " + out.string(), out / "log.txt") == 0, read(out / "log.txt"));
    return out;
  };
  const char* const phases[] = {"teacher", "student_alone", "distilled"};
  const auto accuracies = [](const nlohmann::json& summary) {
    const auto& r = summary.at("results");
    return std::vector<double>{r.at("teacher_accuracy"), r.at("student_alone_accuracy"), r.at("distilled_accuracy")};
  };
  const auto fifo = summary(trained("kd_1f1b", "--chunks 1 --schedule 1f1b"));
  const auto lifo = summary(trained("kd_gpipe", "--chunks 1 --schedule gpipe"));
  const fs::path interleaved = trained("kd_chunks_interleaved", "--chunks 2 --schedule interleaved-1f1b");
  const fs::path v_shape = trained("kd_chunks_v_shape", "--chunks 2 --chunk-placement v-shape --schedule zbv");
  for (const fs::path& out : {interleaved, v_shape}) {
    INFO(out.string());
    const auto s = summary(out);
    CHECK(s.at("options").at("chunks") == 2);
    CHECK(read(out / "log.txt").find("2 stages × 2 chunks") != std::string::npos);
    // The pipelines ran the chunks: their checkpoints record them (the library's plan metadata).
    for (const char* phase : phases) {
      const auto metadata = read_checkpoint(out / phase / "checkpoint.safetensors").metadata;
      CHECK(metadata.at("plan.chunks") == "2");
      CHECK(metadata.at("plan.chunk_placement") == (out == v_shape ? "v-shape" : "interleaved"));
    }
    CHECK(accuracies(s) == accuracies(fifo));
    for (const char* phase : phases) {
      INFO(phase);
      const auto& history = s.at("phases").at(phase).at("history");
      const auto& same_order = fifo.at("phases").at(phase).at("history");
      REQUIRE(history.size() == same_order.size());
      for (std::size_t e = 0; e < history.size(); ++e) {
        CHECK(history[e].at("loss").get<double>() == same_order[e].at("loss").get<double>());
        CHECK(history[e].at("accuracy").get<double>() == same_order[e].at("accuracy").get<double>());
      }
      const double loss = history.back().at("loss").get<double>();
      const double gpipe = lifo.at("phases").at(phase).at("history").back().at("loss").get<double>();
      CHECK(std::abs(loss - gpipe) <= 1e-4 * std::abs(gpipe));
    }
  }

  // Stopped after two phases and resumed: the same run as the uninterrupted one, through
  // checkpoints that hold the chunks' parameters and the run state.
  const fs::path parts = scratch("kd_chunks_parts");
  const std::string resumable = base + " --chunks 2 --schedule interleaved-1f1b";
  REQUIRE(run(resumable + " --stop-after 2 --out " + parts.string(), parts / "log1.txt") == 0);
  check_refused(base + " --chunks 1 --schedule 1f1b --resume --out " + parts.string(), parts / "log_other.txt", 2, "--chunks 1: ");
  REQUIRE_MESSAGE(run(resumable + " --resume --out " + parts.string(), parts / "log2.txt") == 0, read(parts / "log2.txt"));
  CHECK(accuracies(summary(parts)) == accuracies(summary(interleaved)));
  for (const char* phase : phases) {
    check_same_training_state(interleaved / phase / "checkpoint.safetensors", parts / phase / "checkpoint.safetensors");
    for (const auto& entry : fs::directory_iterator(parts / phase))
      CHECK_MESSAGE(entry.path().filename().string().find(".tmp-") == std::string::npos, entry.path().string() << " left behind");
  }
}

TEST_CASE("bad input exits 2 with a message naming the flag or the file") {
  const fs::path out = scratch("bad");
  const std::string kd = std::string(TSPIPE_RESNET_KD) + " --out " + out.string();
  check_refused(kd + " --stages 0", out / "a.txt", 2, "--stages 0");
  check_refused(kd + " --schedule nope", out / "b.txt", 2, "--schedule 'nope'");
  check_refused(kd + " --batch-size 64 --train-subset 10", out / "c.txt", 2, "train-images-idx3-ubyte");
  check_refused(kd + " --epochs x", out / "d.txt", 2, "--epochs");
  check_refused(kd + " --backend gpu", out / "e.txt", 2, "--backend 'gpu'");
  check_refused(kd + " --data /nonexistent", out / "f.txt", 1, "/nonexistent");
  check_refused(std::string(TSPIPE_MOCOV3_VIT) + " --patch 5 --out " + out.string(), out / "g.txt", 2, "--patch 5");
  check_refused(kd + " --crop-pad -1", out / "i.txt", 2, "--crop-pad -1");
  check_refused(kd + " --teacher-depth 9", out / "j.txt", 2, "--teacher-depth/--student-depth 9");
  check_refused(kd + " --teacher-only --teacher-checkpoint x.safetensors", out / "k.txt", 2, "--teacher-only with --teacher-checkpoint");
  check_refused(kd + " --init-probe", out / "l.txt", 2, "--init-probe");
  // --backend cuda where no device answers (CUDA_VISIBLE_DEVICES empty hides any): a build with
  // the CUDA backend names the failing CUDA call (exit 1); one without says so (exit 2). A bad
  // flag still comes first (exit 2).
#if TSPIPE_EXAMPLES_CUDA
  check_refused("CUDA_VISIBLE_DEVICES= " + kd + " --backend cuda", out / "m.txt", 1, "--backend cuda: no CUDA device");
#else
  check_refused("CUDA_VISIBLE_DEVICES= " + kd + " --backend cuda", out / "m.txt", 2, "built without the CUDA backend");
#endif
  check_refused("CUDA_VISIBLE_DEVICES= " + kd + " --backend cuda --stages 0", out / "n.txt", 2, "--stages 0");
  // A flag given twice: which value was meant is not the parser's to guess.
  check_refused(kd + " --lr 0.1 --lr 0.2", out / "o.txt", 2, "--lr given twice ('0.1', then '0.2')");
  // Sizes nobody could train are refused before anything is allocated, naming the limit.
  check_refused(kd + " --teacher-width 50", out / "p.txt", 2, "--teacher-depth 18 --teacher-width 50: the teacher would hold 2.79e+10");
  check_refused(kd + " --teacher-depth 2000000000", out / "q.txt", 2, "--max-parameters");
  check_refused(std::string(TSPIPE_MOCOV3_VIT) + " --vit-depth 100000000 --out " + out.string(), out / "r.txt", 2, "--vit-depth 100000000");
  check_refused(std::string(TSPIPE_BYOL_RESNET) + " --hidden-dim 2000000000 --out " + out.string(), out / "s.txt", 2,
                "--hidden-dim 2000000000");
  check_refused(std::string(TSPIPE_BYOL_RESNET) + " --staleness 2147483647 --out " + out.string(), out / "t.txt", 2, "--staleness 2147483647: at most 64");
  check_refused(std::string(TSPIPE_MOCOV3_VIT) + " --train-subset 256 --batch-size 32 --warmup 2147483647 --out " + out.string(), out / "u.txt", 2,
                "--warmup 2147483647: longer than the mocov3 phase (16 batches)");
  check_refused(kd + " --staleness 1", out / "v.txt", 2, "resnet_kd's teacher is frozen");
  check_refused(kd + " --max-parameters nan", out / "w.txt", 2, "--max-parameters 'nan': not a finite number");
  // Virtual stages: chunks the schedule or the placement cannot run, refused up front by name.
  check_refused(kd + " --schedule gpipe --chunks 2", out / "x1.txt", 2, "--schedule gpipe with --chunks 2");
  check_refused(kd + " --chunk-placement v-shape --chunks 3", out / "x2.txt", 2,
                "--chunks 3 --chunk-placement v-shape: workload: chunks = 3 is invalid (the v-shape placement holds 2 chunks per device)");
  check_refused(kd + " --chunks 0", out / "x3.txt", 2, "--chunks 0: must be at least 1");
  check_refused(kd + " --chunks 2 --chunk-placement zigzag", out / "x4.txt", 2, "--chunk-placement 'zigzag': unknown chunk-placement");
  check_refused(kd + " --chunks 2 --schedule zbv", out / "x5.txt", 2, "--schedule zbv with --chunks 2 --chunk-placement interleaved: the zbv schedule places 2 chunks per device in a V");
  check_refused(kd + " --chunks 2 --chunk-placement v-shape --schedule interleaved-1f1b", out / "x6.txt", 2,
                "--schedule interleaved-1f1b with --chunks 2 --chunk-placement v-shape: the interleaved-1f1b schedule places chunks interleaved");
  check_refused(kd + " --schedule interleaved-1f1b", out / "x7.txt", 2, "--schedule interleaved-1f1b with --chunks 1");
  check_refused(std::string(TSPIPE_BYOL_RESNET) + " --schedule 1f1b --chunks 2 --out " + out.string(), out / "x8.txt", 2,
                "--schedule 1f1b with --chunks 2");
  check_refused(std::string(TSPIPE_MOCOV3_VIT) + " --chunks 2147483647 --out " + out.string(), out / "x9.txt", 2,
                "--chunks 2147483647 --chunk-placement interleaved: workload: chunks = 2147483647 is invalid");
  CHECK(run(std::string(TSPIPE_BYOL_RESNET) + " --help", out / "h.txt") == 0);
  CHECK(read(out / "h.txt").find("--chunk-placement") != std::string::npos);
  CHECK(read(out / "h.txt").find("--staleness") != std::string::npos);
}
