#include "report.hpp"

#include <tspipe/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tspipe::examples {

namespace {

/// The number fields of a record by their JSON names.
const std::pair<const char*, double EpochRecord::*> kNumbers[] = {
    {"loss", &EpochRecord::loss},
    {"accuracy", &EpochRecord::accuracy},
    {"examples_per_second", &EpochRecord::examples_per_second},
    {"seconds", &EpochRecord::seconds}};

}  // namespace

nlohmann::json to_json(const EpochRecord& r) {
  nlohmann::json j = {{"phase", r.phase}, {"epoch", r.epoch}};
  for (const auto& [name, field] : kNumbers) {
    if (!std::isfinite(r.*field))
      throw Error(r.phase + " epoch " + std::to_string(r.epoch) + ": " + name + " is " + std::to_string(r.*field) +
                  ", not a finite number (did training diverge?)");
    j[name] = r.*field;
  }
  if (r.knn_accuracy >= 0.0) j["knn_accuracy"] = r.knn_accuracy;
  return j;
}

EpochRecord epoch_record_from_json(const nlohmann::json& j) {
  const auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(name)) throw Error(std::string("epoch record: '") + name + "' is missing");
    return j.at(name);
  };
  EpochRecord r;
  if (!field("phase").is_string()) throw Error("epoch record: 'phase' is not a string");
  r.phase = field("phase").get<std::string>();
  if (!field("epoch").is_number_integer()) throw Error("epoch record: 'epoch' is not a whole number");
  r.epoch = field("epoch").get<int>();
  for (const auto& [name, member] : kNumbers) {
    const nlohmann::json& value = field(name);
    if (!value.is_number() || !std::isfinite(value.get<double>()))
      throw Error("epoch record " + std::to_string(r.epoch) + ": '" + name + "' is " + value.dump() + ", not a finite number");
    r.*member = value.get<double>();
  }
  if (j.contains("knn_accuracy")) {
    const nlohmann::json& knn = j.at("knn_accuracy");
    if (!knn.is_number() || !std::isfinite(knn.get<double>()))
      throw Error("epoch record " + std::to_string(r.epoch) + ": 'knn_accuracy' is " + knn.dump() + ", not a finite number");
    r.knn_accuracy = knn.get<double>();
  }
  return r;
}

namespace {
std::string fixed(double x, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, x);
  return buffer;
}
}  // namespace

std::string epoch_line(const EpochRecord& r, int epochs) {
  std::string line = r.phase + "  epoch " + std::to_string(r.epoch) + "/" + std::to_string(epochs) + "  loss " +
                     fixed(r.loss, 4);
  if (r.accuracy >= 0.0) line += "  test acc " + fixed(100.0 * r.accuracy, 2) + "%";
  if (r.knn_accuracy >= 0.0) line += "  kNN " + fixed(100.0 * r.knn_accuracy, 2) + "%";
  line += "  " + fixed(r.examples_per_second, 1) + " ex/s  " + fixed(r.seconds, 1) + " s";
  return line;
}

std::string curve_svg(const std::string& title, const std::vector<EpochRecord>& records,
                      const std::vector<AccuracyReference>& references) {
  // Two panels side by side; x = epoch, y = value; each phase one colour. The accuracy panel holds
  // two series per phase (the accuracy solid, the kNN monitor dashed) and the reference lines.
  constexpr double panel_w = 420, panel_h = 260, left = 60, top = 50, gap = 90;
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::map<std::string, std::vector<const EpochRecord*>> by_phase;
  std::vector<std::string> order;
  int max_epoch = 1;
  bool any_knn = false;
  for (const auto& r : records) {
    if (!by_phase.count(r.phase)) order.push_back(r.phase);
    by_phase[r.phase].push_back(&r);
    max_epoch = std::max(max_epoch, r.epoch);
    any_knn = any_knn || r.knn_accuracy >= 0.0;
  }
  // Series 0: loss; 1: accuracy (%); 2: kNN accuracy (%). A negative accuracy is "not measured".
  const auto value = [](const EpochRecord& r, int series) {
    return series == 0 ? r.loss : 100.0 * (series == 1 ? r.accuracy : r.knn_accuracy);
  };
  const auto measured = [](const EpochRecord& r, int series) {
    return series == 0 || (series == 1 ? r.accuracy : r.knn_accuracy) >= 0.0;
  };
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fixed(left + 2 * panel_w + gap + 160, 0) +
                    "\" height=\"" + fixed(top + panel_h + 60, 0) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + fixed(left, 0) + "\" y=\"24\" font-size=\"15\">" + title + "</text>\n";
  for (int panel = 0; panel < 2; ++panel) {
    const bool is_loss = panel == 0;
    const std::vector<int> series = is_loss ? std::vector<int>{0} : std::vector<int>{1, 2};
    double lo = 1e300, hi = -1e300;
    for (const auto& r : records)
      for (int k : series)
        if (measured(r, k)) {
          lo = std::min(lo, value(r, k));
          hi = std::max(hi, value(r, k));
        }
    if (!is_loss && lo <= hi)
      for (const auto& ref : references) {
        lo = std::min(lo, 100.0 * ref.accuracy);
        hi = std::max(hi, 100.0 * ref.accuracy);
      }
    const double x0 = left + panel * (panel_w + gap), y0 = top;
    svg += "<rect x=\"" + fixed(x0, 1) + "\" y=\"" + fixed(y0, 1) + "\" width=\"" + fixed(panel_w, 0) + "\" height=\"" +
           fixed(panel_h, 0) + "\" fill=\"none\" stroke=\"#888\"/>\n";
    svg += "<text x=\"" + fixed(x0 + panel_w / 2, 1) + "\" y=\"" + fixed(y0 - 8, 1) + "\" text-anchor=\"middle\">" +
           (is_loss ? "training loss" : any_knn ? "test accuracy (%): solid probe, dashed kNN" : "test accuracy (%)") +
           "</text>\n";
    svg += "<text x=\"" + fixed(x0 + panel_w / 2, 1) + "\" y=\"" + fixed(y0 + panel_h + 32, 1) +
           "\" text-anchor=\"middle\">epoch</text>\n";
    if (lo > hi) {
      svg += "<text x=\"" + fixed(x0 + panel_w / 2, 1) + "\" y=\"" + fixed(y0 + panel_h / 2, 1) +
             "\" text-anchor=\"middle\" fill=\"#888\">not measured</text>\n";
      continue;
    }
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    const double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
    const auto px = [&](int epoch) { return x0 + panel_w * (max_epoch == 1 ? 0.5 : (epoch - 1.0) / (max_epoch - 1.0)); };
    const auto py = [&](double v) { return y0 + panel_h * (1.0 - (v - lo) / (hi - lo)); };
    for (int t = 0; t <= 4; ++t) {
      const double v = lo + (hi - lo) * t / 4.0;
      svg += "<text x=\"" + fixed(x0 - 6, 1) + "\" y=\"" + fixed(py(v) + 4, 1) + "\" text-anchor=\"end\">" +
             fixed(v, is_loss ? 3 : 1) + "</text>\n";
    }
    for (int e = 1; e <= max_epoch; e += std::max(1, max_epoch / 10))
      svg += "<text x=\"" + fixed(px(e), 1) + "\" y=\"" + fixed(y0 + panel_h + 16, 1) + "\" text-anchor=\"middle\">" +
             std::to_string(e) + "</text>\n";
    if (!is_loss)
      for (const auto& ref : references)
        svg += "<line x1=\"" + fixed(x0, 1) + "\" x2=\"" + fixed(x0 + panel_w, 1) + "\" y1=\"" +
               fixed(py(100.0 * ref.accuracy), 1) + "\" y2=\"" + fixed(py(100.0 * ref.accuracy), 1) +
               "\" stroke=\"#777\" stroke-dasharray=\"2,3\"/><text x=\"" + fixed(x0 + 4, 1) + "\" y=\"" +
               fixed(py(100.0 * ref.accuracy) - 4, 1) + "\" fill=\"#555\" font-size=\"10\">" + ref.label + " " +
               fixed(100.0 * ref.accuracy, 1) + "</text>\n";
    for (std::size_t k = 0; k < order.size(); ++k)
      for (int s : series) {
        std::string points, dots;
        const char* colour = colours[k % std::size(colours)];
        for (const EpochRecord* r : by_phase[order[k]]) {
          if (!measured(*r, s)) continue;
          points += fixed(px(r->epoch), 1) + "," + fixed(py(value(*r, s)), 1) + " ";
          dots += "<circle cx=\"" + fixed(px(r->epoch), 1) + "\" cy=\"" + fixed(py(value(*r, s)), 1) +
                  "\" r=\"3\" fill=\"" + colour + "\"/>\n";
        }
        if (points.empty()) continue;
        svg += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"2\"" +
               (s == 2 ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + points + "\"/>\n" + dots;
      }
  }
  for (std::size_t k = 0; k < order.size(); ++k) {
    const double y = top + 16 + 20.0 * static_cast<double>(k), x = left + 2 * panel_w + gap + 16;
    svg += "<rect x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y - 10, 1) + "\" width=\"12\" height=\"12\" fill=\"" +
           colours[k % std::size(colours)] + "\"/><text x=\"" + fixed(x + 18, 1) + "\" y=\"" + fixed(y, 1) + "\">" +
           order[k] + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

namespace {

[[noreturn]] void write_failed(const std::filesystem::path& path, const std::string& what, int error) {
  throw Error(path.string() + ": " + what + ": " + std::strerror(error));
}

/// Closes a descriptor once; close() reports what a full disk left unwritten, so its result counts.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

}  // namespace

void write_file(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string temporary = (directory / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  Descriptor file(::mkstemp(temporary.data()));
  if (file.get() < 0) write_failed(path, "cannot create a temporary file next to it", errno);
  const auto fail = [&](const char* what) {
    const int error = errno;
    file.close();
    ::unlink(temporary.c_str());
    write_failed(path, what, error);
  };
  if (::fchmod(file.get(), 0644) != 0) fail("cannot set the permissions of its temporary file");
  for (std::size_t written = 0; written < content.size();) {
    const ssize_t n = ::write(file.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write");
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(file.get()) != 0) fail("cannot flush to disk");
  if (file.close() != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    write_failed(path, "cannot close its temporary file", error);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    write_failed(path, "cannot rename its temporary file over it", error);
  }
  Descriptor folder(::open(directory.c_str(), O_RDONLY | O_DIRECTORY));
  if (folder.get() < 0 || ::fsync(folder.get()) != 0) write_failed(path, "cannot flush its directory", errno);
  file_written(path);
}

void file_written(const std::filesystem::path& path) {
  static long written = 0;
  static const long last = [] {
    const char* text = std::getenv("TSPIPE_EXAMPLES_KILL_AFTER_WRITE");
    return text ? std::strtol(text, nullptr, 10) : 0L;
  }();
  if (++written != last) return;
  std::fprintf(stderr, "killed after file %ld, %s (TSPIPE_EXAMPLES_KILL_AFTER_WRITE)\n", written, path.string().c_str());
  std::fflush(nullptr);
  std::raise(SIGKILL);
}

ProgressBar::ProgressBar(std::string label, long total, bool enabled)
    : label_(std::move(label)), total_(std::max(1L, total)), enabled_(enabled && isatty(fileno(stderr))) {}

void ProgressBar::update(long done, double mean_loss, double examples_per_second) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(200)) return;  // redraws cost a terminal
  last_draw_ = now;
  constexpr int width = 30;
  const int filled = static_cast<int>(width * std::min(done, total_) / total_);
  const std::string loss = std::isnan(mean_loss) ? "" : "  loss " + fixed(mean_loss, 4);
  std::fprintf(stderr, "\r%s [%s%s] %ld/%ld%s  %.1f ex/s ", label_.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(), done, total_, loss.c_str(), examples_per_second);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_) std::fputs("\r\033[K", stderr);
}

}  // namespace tspipe::examples
