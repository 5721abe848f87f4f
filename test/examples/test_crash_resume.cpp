// Runs interrupted the hard way and resumed: killed (SIGKILL) right after each file the run
// commits — between a phase's checkpoint and the files after it, which is where a run whose
// epoch count lived in a second file used to break — at timed points in between, and stopped by
// a full disk. Every interrupted run must resume and end with the uninterrupted run's checkpoints,
// bit for bit; no temporary file may outlive the next start; a previous run in --out is refused
// unless --resume or --overwrite says what to do with it.
#include "run_example.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace tspipe::test;

// resnet_kd: a two-epoch teacher, then the student alone and the distilled student, one epoch each.
const std::string kd = std::string(TSPIPE_RESNET_KD) +
                       " --train-subset 128 --test-subset 100 --batch-size 32 --threads 1 --no-progress --epochs 1"
                       " --teacher-epochs 2 --width 0.0625 --teacher-width 0.0625" +
                       data_flag();
const char* const kPhases[] = {"teacher", "student_alone", "distilled"};

/// How a run ended: its exit code, or the signal that ended it.
struct Ending {
  int code = -1;
  int signal = 0;
};

/// Runs `command` (stdout and stderr into `log`) in its own process; with `kill_after` > 0, ends
/// it with SIGKILL that many milliseconds after its start unless it ended before.
Ending run_and_maybe_kill(const std::string& command, const fs::path& log, std::chrono::milliseconds kill_after = {}) {
  const std::string shell = "exec " + command + " > '" + log.string() + "' 2>&1";
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", shell.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (kill_after.count() > 0) {
    const auto deadline = std::chrono::steady_clock::now() + kill_after;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid, SIGKILL);  // this test's own child only
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  } else {
    ::waitpid(pid, &status, 0);
  }
  Ending e;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

/// Files an interrupted write leaves: the temporaries of the atomic writes.
std::vector<fs::path> temporaries(const fs::path& out) {
  static const std::regex pattern(R"(\..+\.tmp-.{6})");
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(out))
    if (std::regex_match(entry.path().filename().string(), pattern)) found.push_back(entry.path());
  return found;
}

/// The uninterrupted run, once for every case below.
const fs::path& reference() {
  static const fs::path out = [] {
    const fs::path dir = scratch("crash_reference");
    REQUIRE_MESSAGE(run(kd + " --out " + dir.string(), dir / "log.txt") == 0, read(dir / "log.txt"));
    return dir;
  }();
  return out;
}

/// `out`, resumed to the end, holds the reference run's checkpoints and results.
void check_resumes_to_reference(const fs::path& out) {
  const fs::path log = out.parent_path() / (out.filename().string() + "_resume.txt");
  REQUIRE_MESSAGE(run(kd + " --resume --out " + out.string(), log) == 0, read(log));
  CHECK(temporaries(out).empty());
  for (const char* phase : kPhases) check_same_training_state(reference() / phase / "checkpoint.safetensors", out / phase / "checkpoint.safetensors");
  const auto expected = summary(reference()).at("results"), got = summary(out).at("results");
  for (const char* key : {"teacher_accuracy", "student_alone_accuracy", "distilled_accuracy"}) CHECK(got.at(key) == expected.at(key));
}

}  // namespace

TEST_CASE("killed right after each file it commits, a run resumes to the uninterrupted run's checkpoints") {
  // 3 files per epoch (checkpoint, trace.json, timeline.svg) × 4 epochs, then summary.json and curve.svg.
  constexpr int kFiles = 14;
  int checkpoints = 0;
  for (int n = 1; n <= kFiles; ++n) {
    CAPTURE(n);
    const fs::path out = scratch("killed_after_" + std::to_string(n));
    const Ending e = run_and_maybe_kill("env TSPIPE_EXAMPLES_KILL_AFTER_WRITE=" + std::to_string(n) + " " + kd + " --out " + out.string(),
                                        out.parent_path() / ("killed_after_" + std::to_string(n) + ".txt"));
    const std::string log = read(out.parent_path() / ("killed_after_" + std::to_string(n) + ".txt"));
    INFO(log);
    REQUIRE(e.signal == SIGKILL);
    checkpoints += log.find("checkpoint.safetensors (TSPIPE_EXAMPLES_KILL_AFTER_WRITE)") != std::string::npos;
    check_resumes_to_reference(out);
  }
  CHECK(checkpoints == 4);  // killed right after each epoch's checkpoint, before anything else was written
}

TEST_CASE("killed at timed points, a run resumes to the uninterrupted run's checkpoints") {
  // Spread over the reference run's length: inside epochs, inside evaluation, inside writes.
  const auto started = std::chrono::steady_clock::now();
  const fs::path timing = scratch("crash_timing");
  REQUIRE(run(kd + " --out " + timing.string(), timing / "log.txt") == 0);
  const auto length = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  for (int i = 1; i <= 6; ++i) {
    const auto at = length * i / 7;
    CAPTURE(at.count());
    const fs::path out = scratch("killed_at_" + std::to_string(i));
    const Ending e = run_and_maybe_kill(kd + " --out " + out.string(), out.parent_path() / ("killed_at_" + std::to_string(i) + ".txt"), at);
    CHECK((e.signal == SIGKILL || e.code == 0));
    check_resumes_to_reference(out);
  }
}

TEST_CASE("the next start removes the temporary files of interrupted writes") {
  const fs::path out = scratch("stale_temporaries");
  REQUIRE(run_and_maybe_kill("env TSPIPE_EXAMPLES_KILL_AFTER_WRITE=5 " + kd + " --out " + out.string(), out.parent_path() / "stale.txt").signal ==
          SIGKILL);
  // What a kill inside a write leaves: the checkpoint writer's and write_file's temporaries, and
  // the earlier examples' state.json.tmp.
  for (const fs::path& planted : {out / "teacher" / ".checkpoint.safetensors.tmp-a1B2c3", out / ".summary.json.tmp-XyZ123",
                                  out / "teacher" / "state.json.tmp"})
    std::ofstream(planted) << "partial";
  std::ofstream(out / "teacher" / "notes.txt") << "not the example's";
  const fs::path log = out.parent_path() / "stale_resume.txt";
  REQUIRE_MESSAGE(run(kd + " --resume --out " + out.string(), log) == 0, read(log));
  CHECK(temporaries(out).empty());
  CHECK_FALSE(fs::exists(out / "teacher" / "state.json.tmp"));
  CHECK(fs::exists(out / "teacher" / "notes.txt"));
  CHECK(read(log).find("removed " + (out / "teacher" / ".checkpoint.safetensors.tmp-a1B2c3").string()) != std::string::npos);
  for (const char* phase : kPhases) check_same_training_state(reference() / phase / "checkpoint.safetensors", out / phase / "checkpoint.safetensors");
}

TEST_CASE("a previous run in --out is refused unless --resume or --overwrite says what to do with it") {
  const fs::path out = scratch("previous_run");
  REQUIRE(run(kd + " --out " + out.string(), out.parent_path() / "first.txt") == 0);
  std::ofstream(out / "notes.txt") << "not the example's";
  check_refused(kd + " --out " + out.string(), out.parent_path() / "again.txt", 2, "holds a previous run");
  CHECK(read(out.parent_path() / "again.txt").find("--resume") != std::string::npos);
  check_refused(kd + " --resume --overwrite --out " + out.string(), out.parent_path() / "both.txt", 2, "--resume with --overwrite");
  // Resuming with other flags would not continue the same run.
  check_refused(kd + " --resume --lr 0.1 --out " + out.string(), out.parent_path() / "lr.txt", 2, "--lr 0.1");
  // --overwrite starts over: the same run again, and only the example's files were replaced.
  fs::remove(out / "distilled" / "checkpoint.safetensors");
  REQUIRE_MESSAGE(run(kd + " --overwrite --out " + out.string(), out.parent_path() / "overwrite.txt") == 0, read(out.parent_path() / "overwrite.txt"));
  CHECK(read(out / "notes.txt") == "not the example's");
  CHECK(read(out.parent_path() / "overwrite.txt").find("resumed") == std::string::npos);
  for (const char* phase : kPhases) check_same_training_state(reference() / phase / "checkpoint.safetensors", out / phase / "checkpoint.safetensors");
}

TEST_CASE("a full disk stops the run with a message naming the file; the run resumes from its last checkpoint") {
  // A tmpfs of its own (in a mount namespace of its own, so it disappears with the run): room for
  // the first epoch's outputs, not for the next checkpoint beside the previous one.
  const fs::path whole = reference();
  const auto checkpoint_size = fs::file_size(whole / "teacher" / "checkpoint.safetensors");
  const auto first_epoch = checkpoint_size + fs::file_size(whole / "teacher" / "trace.json") + fs::file_size(whole / "teacher" / "timeline.svg");
  const std::uintmax_t size_kb = (first_epoch + checkpoint_size / 2) / 1024 + 8;
  const fs::path dir = scratch("full_disk"), mount = dir / "mnt", copy = dir / "run";
  fs::create_directories(mount);
  std::ofstream(dir / "full_disk.sh") << "mount -t tmpfs -o size=" << size_kb << "k tmpfs '" << mount.string() << "' || exit 77\n"
                                      << "echo MOUNTED\n"
                                      << kd << " --out '" << (mount / "run").string() << "'\n"
                                      << "code=$?\n"
                                      << "cp -a '" << (mount / "run").string() << "' '" << copy.string() << "'\n"
                                      << "exit $code\n";
  const int code = run("unshare --mount sh '" + (dir / "full_disk.sh").string() + "'", dir / "log.txt");
  const std::string log = read(dir / "log.txt");
  INFO(log);
  if (log.find("MOUNTED") == std::string::npos) {
    MESSAGE("skipped: no tmpfs could be mounted here (needs unshare and mount: root, or user namespaces); exit " << code);
    return;
  }
  CHECK(code == 1);
  CHECK(log.find("No space left on device") != std::string::npos);
  CHECK(std::regex_search(log, std::regex(R"(teacher/(checkpoint\.safetensors|trace\.json|timeline\.svg))")));
  CHECK(temporaries(copy).empty());
  for (const auto& entry : fs::recursive_directory_iterator(copy))
    if (entry.is_regular_file()) CHECK_MESSAGE(fs::file_size(entry.path()) > 0, entry.path().string() << " is empty");
  REQUIRE(run_state(copy / "teacher" / "checkpoint.safetensors").at("epochs_done") == 1);
  check_resumes_to_reference(copy);
}
