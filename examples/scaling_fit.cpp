// Fits ScaleRL's sigmoidal compute-performance curve to (compute, reward) evaluations, prints the fit with bootstrap
// intervals and its extrapolation to a compute budget, and plots points and curve over log compute:
//   example_scaling_fit [file.csv] [--budget C] [--r0 R] [--min-compute C] [--png out.png]
// The CSV has a header line, then compute,reward per line. Without a file the program fits a built-in synthetic run
// (the reference's worked parameters A = 0.645, B = 1.70, C_mid = 8000, R0 = 0.30, plus noise of 0.01 with a fixed
// seed) and returns non-zero unless the fit recovers those parameters.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <numbers>
#include <optional>
#include <random>
#include <string>
#include <tensorlogic/rl/scaling_fit.hpp>
#include <vector>

#include "support/plot.hpp"

namespace tl = tensorlogic;

namespace {

struct evaluations {
  std::vector<double> compute, reward;
};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// Reads `compute,reward` lines after one header line; a malformed line names the file, line and column.
evaluations read_csv(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw tl::error(path + ": cannot open the file");
  std::string line;
  if (!std::getline(file, line)) throw tl::error(path + ": the file is empty; expected a header line");
  evaluations e;
  for (int number = 2; std::getline(file, line); ++number) {
    if (trim(line).empty()) continue;
    std::vector<std::string> fields;
    for (std::size_t start = 0;;) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(trim(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    const std::string where = path + ":" + std::to_string(number);
    if (fields.size() != 2)
      throw tl::error(where + ": expected 2 columns (compute, reward), found " + std::to_string(fields.size()));
    double values[2];
    for (int column = 0; column < 2; ++column) {
      const std::string& field = fields[static_cast<std::size_t>(column)];
      char* end = nullptr;
      values[column] = std::strtod(field.c_str(), &end);
      if (field.empty() || end != field.c_str() + field.size() || !std::isfinite(values[column]))
        throw tl::error(where + ": column " + std::to_string(column + 1) + " (" + (column ? "reward" : "compute") +
                        "): '" + field + "' is not a finite number");
    }
    e.compute.push_back(values[0]);
    e.reward.push_back(values[1]);
  }
  if (e.compute.empty()) throw tl::error(path + ": no data lines after the header");
  return e;
}

// Evaluations every 500 GPU-hours up to 50k on the worked curve, with Gaussian noise (Box-Muller over mt19937_64,
// the same numbers on every platform).
evaluations synthetic(const tl::rl::scaling_curve& truth, double sigma, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  const auto uniform = [&] { return static_cast<double>(generator() >> 11) * 0x1.0p-53; };
  evaluations e;
  for (int step = 1; step <= 100; ++step) {
    const double c = 500.0 * step;
    const double u1 = uniform(), u2 = uniform();
    const double noise = sigma * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * std::numbers::pi * u2);
    e.compute.push_back(c);
    e.reward.push_back(truth(c) + noise);
  }
  return e;
}

double parse_number(const std::string& option, const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (*text == '\0' || *end != '\0' || !std::isfinite(v))
    throw tl::error("option " + option + ": '" + text + "' is not a finite number");
  return v;
}

int usage(const char* program) {
  std::fprintf(stderr, "usage: %s [file.csv] [--budget C] [--r0 R] [--min-compute C] [--png out.png]\n", program);
  return 2;
}

int run(int argc, char** argv) {
  std::optional<std::string> csv;
  std::optional<double> budget, r0_option, min_compute;
  std::string png = "scaling_fit.png";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      return 0;
    }
    if (arg == "--budget" && has_value) {
      budget = parse_number(arg, argv[++i]);
    } else if (arg == "--r0" && has_value) {
      r0_option = parse_number(arg, argv[++i]);
    } else if (arg == "--min-compute" && has_value) {
      min_compute = parse_number(arg, argv[++i]);
    } else if (arg == "--png" && has_value) {
      png = argv[++i];
    } else if (arg.rfind("--", 0) != 0 && !csv) {
      csv = arg;
    } else {
      return usage(argv[0]);
    }
  }

  const tl::rl::scaling_curve truth{0.30, 0.645, 1.70, 8000.0};
  evaluations data;
  double r0 = truth.r0;
  if (csv) {
    data = read_csv(*csv);
    // R0 is held fixed; by default it is the reward of the earliest evaluation. Evaluations at compute 0 only
    // supply R0.
    const auto earliest = std::min_element(data.compute.begin(), data.compute.end()) - data.compute.begin();
    r0 = r0_option.value_or(data.reward[static_cast<std::size_t>(earliest)]);
    evaluations positive;
    for (std::size_t i = 0; i < data.compute.size(); ++i)
      if (data.compute[i] != 0.0)
        positive.compute.push_back(data.compute[i]), positive.reward.push_back(data.reward[i]);
    data = positive;
    std::printf("data: %zu evaluations from %s; R0 = %.4f (%s)\n", data.compute.size(), csv->c_str(), r0,
                r0_option ? "--r0" : "reward of the earliest evaluation");
  } else {
    data = synthetic(truth, 0.01, 2025);
    r0 = r0_option.value_or(truth.r0);
    std::printf(
        "data: %zu synthetic evaluations every 500 GPU-hours, A = 0.645, B = 1.70, C_mid = 8000, "
        "R0 = 0.30, noise 0.01\n",
        data.compute.size());
  }

  tl::rl::scaling_fit_options options;
  if (min_compute) options.min_compute = *min_compute;
  const auto fit = tl::rl::fit_scaling(data.compute, data.reward, r0, options);
  const double c_max = *std::max_element(data.compute.begin(), data.compute.end());
  const double target = budget.value_or(2.0 * c_max);

  std::printf("fit: %zu points with compute >= %g, residual RMS %.4f\n", fit.points_used, options.min_compute,
              fit.residual_rms);
  std::printf("  grid:    A = %.3f  B = %.3f  C_mid = %.0f\n", fit.grid.a, fit.grid.b, fit.grid.c_mid);
  std::printf("  refined: A = %.4f  [%.4f, %.4f]\n", fit.a, fit.a_interval.low, fit.a_interval.high);
  std::printf("           B = %.3f   [%.3f, %.3f]\n", fit.b, fit.b_interval.low, fit.b_interval.high);
  std::printf("           C_mid = %.0f  [%.0f, %.0f]\n", fit.c_mid, fit.c_mid_interval.low, fit.c_mid_interval.high);
  std::printf("  (%.0f%% bootstrap percentile intervals, %zu residual resamples)\n", 100.0 * fit.confidence,
              fit.replicates.size());
  const auto forecast = fit.prediction_interval(target);
  std::printf("extrapolation: R(%.0f) = %.4f  [%.4f, %.4f]\n", target, fit.predict(target), forecast.low,
              forecast.high);

  int status = 0;
  if (!csv) {
    std::printf("truth: R(%.0f) = %.4f\n", target, truth(target));
    const bool recovered = std::abs(fit.a - truth.a) < 0.02 && std::abs(fit.b - truth.b) < 0.17 &&
                           std::abs(fit.c_mid - truth.c_mid) < 800.0 && fit.a_interval.contains(truth.a) &&
                           fit.b_interval.contains(truth.b) && fit.c_mid_interval.contains(truth.c_mid);
    std::printf("check: %s\n", recovered ? "the fit recovers A, B and C_mid, and the intervals cover them"
                                         : "FAILED: the fit does not recover the synthetic parameters");
    status = recovered ? 0 : 1;
  }

  namespace plot = examples::plot;
  plot::chart chart{.title = "compute scaling fit",
                    .x_label = "compute (GPU-hours, log scale)",
                    .y_label = "reward",
                    .log_x = true,
                    .data = {}};
  plot::series used{.label = "fitted points", .colour = plot::blue};
  plot::series excluded{.label = "excluded points", .colour = plot::dark_grey};
  for (std::size_t i = 0; i < data.compute.size(); ++i) {
    const bool in_window = data.compute[i] >= options.min_compute && data.compute[i] <= options.max_compute;
    (in_window ? used : excluded).x.push_back(data.compute[i]);
    (in_window ? used : excluded).y.push_back(data.reward[i]);
  }
  const std::string interval_label = std::to_string(static_cast<int>(std::lround(100 * fit.confidence))) + "% band";
  plot::series curve{.label = "fit", .colour = plot::orange, .style = plot::mark::line};
  plot::series low{.label = interval_label, .colour = plot::green, .style = plot::mark::line};
  plot::series high{.colour = plot::green, .style = plot::mark::line};
  const double c_min = *std::min_element(data.compute.begin(), data.compute.end());
  const double c_end = std::max(target, c_max);
  for (int k = 0; k <= 200; ++k) {
    const double c = c_min * std::pow(c_end / c_min, k / 200.0);
    const auto band = fit.prediction_interval(c);
    curve.x.push_back(c), curve.y.push_back(fit.predict(c));
    low.x.push_back(c), low.y.push_back(band.low);
    high.x.push_back(c), high.y.push_back(band.high);
  }
  chart.data = {used, excluded, curve, low, high};
  chart.save(png);
  std::printf("plot: %s\n", png.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
