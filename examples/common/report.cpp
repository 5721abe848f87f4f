#include "report.hpp"

#include <tspipe/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <unistd.h>

namespace tspipe::examples {

nlohmann::json to_json(const EpochRecord& r) {
  nlohmann::json j = {{"phase", r.phase},  {"epoch", r.epoch}, {"loss", r.loss}, {"accuracy", r.accuracy},
                      {"examples_per_second", r.examples_per_second}, {"seconds", r.seconds}};
  if (r.knn_accuracy >= 0.0) j["knn_accuracy"] = r.knn_accuracy;
  return j;
}

EpochRecord epoch_record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.phase = j.at("phase").get<std::string>();
  r.epoch = j.at("epoch").get<int>();
  r.loss = j.at("loss").get<double>();
  r.accuracy = j.at("accuracy").get<double>();
  r.examples_per_second = j.at("examples_per_second").get<double>();
  r.seconds = j.at("seconds").get<double>();
  r.knn_accuracy = j.value("knn_accuracy", -1.0);
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

void write_file(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(temporary.string() + ": cannot open for writing");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw Error(temporary.string() + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw Error(path.string() + ": cannot replace (" + ec.message() + ")");
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
  std::fprintf(stderr, "\r%s [%s%s] %ld/%ld  loss %.4f  %.1f ex/s ", label_.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(), done, total_, mean_loss, examples_per_second);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_) std::fputs("\r\033[K", stderr);
}

}  // namespace tspipe::examples
