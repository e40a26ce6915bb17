// UML learned: a few labelled "images" and many unpaired "texts" of the same four classes, one shared trunk.
//
// Every class is an 8 x 8 pattern (three Gaussian blobs at random cells). An image is the pattern times a random
// brightness plus Gaussian noise. A text is a bag of 12 words over a 64-word vocabulary in which word v names cell v:
// each word is drawn from the class's lit cells (in proportion to the pattern) with probability 0.6 and uniformly
// otherwise. The two modalities are different noisy views of one latent class structure, never paired.
//
// Model (one tensorlogic program): a private encoder per modality (a layer norm over the 64 features with its own
// gain and bias, standardizing intensities and word frequencies), then the shared trunk, an MLP 64 -> 32 -> 4
// whose last layer is the class head, applied to both modalities with tl::nn::tagged; cross-entropy per modality;
// L = alpha_x L_X + alpha_y L_Y; AdamW. Each step draws the X batch (all labelled images) and an independently
// shuffled batch of 32 texts. Accuracy is measured on 800 held-out images by a program over the image modality alone
// that shares the trained parameters.
//
// It prints a progress line per epoch for one run, then over S seeds (each seed: new patterns, data and
// initialization; all settings of a seed see the same data): image accuracy against alpha in {0, 0.5, 1, 1.5}, against
// the number of unpaired texts, with the warm start, and a control whose texts carry no class information (words
// uniform), as means with 95% t-intervals and the paired gain over alpha = 0 (image-only training, which the tests
// prove equal to the unimodal program). Returns non-zero unless the gain at alpha = 1 is positive with its interval
// above 0 and the control shows no significant gain (its texts say nothing about the classes).
//
//   example_uml_learned [--seeds S] [--png PREFIX (writes PREFIX_alpha.png, PREFIX_texts.png)] [--csv results.csv]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <tensorlogic/multimodal/uml.hpp>
#include <tensorlogic/tensorlogic.hpp>

#include "support/plot.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace mm = tensorlogic::multimodal;

namespace {
inline constexpr tl::index<"n"> n;  // image rows
inline constexpr tl::index<"m"> m;  // text rows
inline constexpr tl::index<"f"> f;  // the 64 cells / words
inline constexpr tl::index<"c"> c;  // classes
inline constexpr tl::tensor<"X", float, 2> X;
inline constexpr tl::tensor<"Y", float, 2> Y;
inline constexpr tl::tensor<"Zx", float, 2> Zx;
inline constexpr tl::tensor<"Zy", float, 2> Zy;
inline constexpr tl::tensor<"Ox", float, 2> Ox;
inline constexpr tl::tensor<"Oy", float, 2> Oy;
inline constexpr tl::tensor<"Tx", float, 2> Tx;
inline constexpr tl::tensor<"Ty", float, 2> Ty;

inline constexpr nn::layer_norm<"img"> enc_x;
inline constexpr nn::layer_norm<"txt"> enc_y;
inline constexpr nn::mlp<"trunk", float, 1> trunk;
inline constexpr nn::cross_entropy<"ce"> ce;
inline constexpr mm::objective<"uml"> uml;

constexpr auto image_part = tl::compose(enc_x(Zx(n, f), X(n, f)), nn::tagged<"x">(trunk)(Ox(n, c), Zx(n, f)));
constexpr auto model =
    tl::compose(image_part, nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)), enc_y(Zy(m, f), Y(m, f)),
                nn::tagged<"y">(trunk)(Oy(m, c), Zy(m, f)), nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)), uml());
constexpr auto params = nn::parameters(enc_x, enc_y, trunk);
constexpr auto train = tl::gradient(model, uml.L, params);

constexpr int classes = 4, side = 8, cells = side * side, words_per_text = 12, hidden = 32;
constexpr int labelled_per_class = 2, test_images = 800, text_batch = 32, epochs = 12, steps_per_epoch = 25;

struct sample {
  std::vector<float> features;
  int label;
};

// The latent class structure of one seed and the two modalities drawn from it.
struct world {
  std::vector<std::vector<double>> pattern;  // per class, 64 cells in [0, 1]
  std::mt19937_64 gen;

  explicit world(std::uint64_t seed) : pattern(classes, std::vector<double>(cells)), gen(seed) {
    std::uniform_int_distribution<int> cell(0, side - 1);
    for (auto& p : pattern) {
      for (int blob = 0; blob < 3; ++blob) {
        const int cx = cell(gen), cy = cell(gen);
        for (int y = 0; y < side; ++y)
          for (int x = 0; x < side; ++x)
            p[y * side + x] += std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * 1.2 * 1.2));
      }
      const double top = *std::max_element(p.begin(), p.end());
      for (auto& v : p) v /= top;
    }
  }
  sample image(int label) {
    std::uniform_real_distribution<double> brightness(0.7, 1.3);
    std::normal_distribution<double> noise(0.0, 0.6);
    const double a = brightness(gen);
    sample s{std::vector<float>(cells), label};
    for (int k = 0; k < cells; ++k) s.features[k] = static_cast<float>(a * pattern[label][k] + noise(gen));
    return s;
  }
  // informative = false: every word uniform (a text that says nothing about its class).
  sample text(int label, bool informative) {
    std::discrete_distribution<int> topical(pattern[label].begin(), pattern[label].end());
    std::uniform_int_distribution<int> any(0, cells - 1);
    std::bernoulli_distribution on_topic(informative ? 0.6 : 0.0);
    sample s{std::vector<float>(cells), label};
    for (int w = 0; w < words_per_text; ++w) s.features[on_topic(gen) ? topical(gen) : any(gen)] += 1.0f / words_per_text;
    return s;
  }
  std::vector<sample> images(int per_class) {
    std::vector<sample> out;
    for (int k = 0; k < per_class; ++k)
      for (int label = 0; label < classes; ++label) out.push_back(image(label));
    return out;
  }
  std::vector<sample> texts(int count, bool informative) {
    std::vector<sample> out;
    for (int k = 0; k < count; ++k) out.push_back(text(k % classes, informative));
    return out;
  }
};

template <class Store, class Sym, class Target>
void put_rows(Store& s, const Sym& rows, const Target& targets, const std::vector<sample>& data,
              const std::vector<std::size_t>& which) {
  for (std::size_t r = 0; r < which.size(); ++r) {
    const sample& d = data[which[r]];
    for (int k = 0; k < cells; ++k) s[rows](r, k) = d.features[k];
    for (int k = 0; k < classes; ++k) s[targets](r, k) = k == d.label ? 1.0f : 0.0f;
  }
}

struct setting {
  std::string name;
  double alpha_y;
  int texts;
  int warm_start = -1;
  bool informative = true;
};

struct data_of_seed {
  std::vector<sample> labelled, test, texts, noise_texts;
};

// Trains one model and returns its held-out image accuracy.
double run(const setting& st, const data_of_seed& d, std::uint64_t seed, bool progress) {
  const int n_x = static_cast<int>(d.labelled.size());
  tl::store s(train, tl::extents(n = n_x, m = text_batch, f = cells, c = classes, trunk.h<0> = hidden));
  nn::init(s, seed, enc_x, enc_y, trunk);
  nn::tagged<"x">(ce).normalize(s, n_x);
  nn::tagged<"y">(ce).normalize(s, text_batch);
  std::vector<std::size_t> all(d.labelled.size());
  for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
  put_rows(s, X, Tx, d.labelled, all);
  const auto& texts = st.informative ? d.texts : d.noise_texts;
  const int n_texts = std::min<int>(st.texts, static_cast<int>(texts.size()));
  const double alpha_y = n_texts > 0 ? st.alpha_y : 0.0;
  mm::batch_sampler text_batches(std::max(n_texts, 1), text_batch, seed + 17);
  s[Y], s[Ty];  // zeros (no text) until a batch is written
  auto fill_y = [&](auto& store) {
    if (alpha_y > 0) put_rows(store, Y, Ty, texts, text_batches.next());
  };
  tl::adamw opt(s, params, {.lr = tl::schedule::cosine(0.01, epochs * steps_per_epoch, 20, 0.001), .weight_decay = 1e-3});
  const mm::weights w{.alpha_x = 1.0, .alpha_y = alpha_y, .warm_start = st.warm_start};

  tl::store eval_store(image_part, tl::extents(n = test_images, f = cells, c = classes, trunk.h<0> = hidden));
  nn::share(eval_store, s, enc_x, trunk);
  std::vector<std::size_t> every(d.test.size());
  for (std::size_t k = 0; k < every.size(); ++k) every[k] = k;
  std::vector<int> labels;
  for (const auto& t : d.test) labels.push_back(t.label);
  for (std::size_t r = 0; r < d.test.size(); ++r)
    for (int k = 0; k < cells; ++k) eval_store[X](r, k) = d.test[r].features[k];
  auto accuracy = [&] {
    tl::eval(image_part, eval_store);
    return mm::accuracy(eval_store, Ox, labels);
  };
  for (int e = 0; e < epochs; ++e) {
    const auto r = mm::fit_epoch(train, s, opt, uml, params, w, e, steps_per_epoch, [](auto&) {}, fill_y);
    if (progress)
      std::printf("  epoch %2d  alpha_x %.1f alpha_y %.1f  L_X %.4f  L_Y %.4f  |grad| %.3f  image accuracy %.3f\n", e,
                  r.alpha_x, r.alpha_y, r.loss_x, r.loss_y, r.grad_norm, accuracy());
  }
  return accuracy();
}

// Mean and half-width of the 95% t-interval.
struct interval {
  double mean, half;
};
interval t_interval(const std::vector<double>& v) {
  static const double t975[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
  const std::size_t k = v.size();
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(k);
  if (k < 2) return {mean, 0};
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  var /= static_cast<double>(k - 1);
  const double t = k - 1 < 21 ? t975[k - 1] : 1.96;
  return {mean, t * std::sqrt(var / static_cast<double>(k))};
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  int seeds = 10;
  std::string png, csv;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--seeds" && a + 1 < argc)
      seeds = std::max(2, std::min(20, std::atoi(argv[++a])));
    else if (arg == "--png" && a + 1 < argc)
      png = argv[++a];
    else if (arg == "--csv" && a + 1 < argc)
      csv = argv[++a];
    else {
      std::fprintf(stderr, "usage: %s [--seeds S (2..20)] [--png prefix] [--csv file]\n", argv[0]);
      return 2;
    }
  }
  const std::vector<setting> settings{
      {"image only (alpha 0)", 0.0, 256},   {"alpha 0.5", 0.5, 256},
      {"alpha 1", 1.0, 256},                {"alpha 1.5", 1.5, 256},
      {"alpha 1, 16 texts", 1.0, 16},       {"alpha 1, 64 texts", 1.0, 64},
      {"alpha 1, 1024 texts", 1.0, 1024},   {"alpha 1, warm start 4 epochs", 1.0, 256, 4},
      {"control: uninformative texts", 1.0, 256, -1, false},
  };
  std::printf("UML learned: %d classes, %d labelled images (%d per class), %d held-out images, text batch %d, %d epochs "
              "x %d steps\n",
              classes, classes * labelled_per_class, labelled_per_class, test_images, text_batch, epochs,
              steps_per_epoch);
  std::vector<std::vector<double>> acc(settings.size());
  for (int seed = 0; seed < seeds; ++seed) {
    world wd(1000 + static_cast<std::uint64_t>(seed));
    data_of_seed d;
    d.labelled = wd.images(labelled_per_class);
    d.test = wd.images(test_images / classes);
    d.texts = wd.texts(1024, true);
    d.noise_texts = wd.texts(256, false);
    for (std::size_t k = 0; k < settings.size(); ++k) {
      const bool progress = seed == 0 && (k == 0 || k == 2);
      if (progress) std::printf("seed 0, %s:\n", settings[k].name.c_str());
      acc[k].push_back(run(settings[k], d, 7 + static_cast<std::uint64_t>(seed), progress));
    }
  }

  std::printf("\nHeld-out image accuracy over %d seeds (mean and 95%% t-interval; gain: paired difference with alpha 0)\n",
              seeds);
  std::printf("| setting | texts | accuracy | 95%% interval | gain | 95%% interval |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  std::vector<interval> gains(settings.size()), accs(settings.size());
  for (std::size_t k = 0; k < settings.size(); ++k) {
    std::vector<double> diff;
    for (int s = 0; s < seeds; ++s) diff.push_back(acc[k][s] - acc[0][s]);
    accs[k] = t_interval(acc[k]);
    gains[k] = t_interval(diff);
    std::printf("| %s | %d | %.3f | [%.3f, %.3f] | %+.3f | [%+.3f, %+.3f] |\n", settings[k].name.c_str(),
                settings[k].alpha_y > 0 ? settings[k].texts : 0, accs[k].mean, accs[k].mean - accs[k].half,
                accs[k].mean + accs[k].half, gains[k].mean, gains[k].mean - gains[k].half,
                gains[k].mean + gains[k].half);
  }
  if (!csv.empty()) {
    std::ofstream out(csv);
    out << "setting,alpha_y,texts,seed,accuracy\n";
    for (std::size_t k = 0; k < settings.size(); ++k)
      for (int s = 0; s < seeds; ++s)
        out << '"' << settings[k].name << "\"," << settings[k].alpha_y << ',' << settings[k].texts << ',' << s << ','
            << acc[k][s] << '\n';
    std::printf("csv: %s\n", csv.c_str());
  }
  if (!png.empty()) {
    namespace plot = examples::plot;
    auto band = [&](plot::chart& chart, const std::vector<double>& xs, const std::vector<std::size_t>& rows,
                    const char* label) {
      plot::series mean{.label = label, .colour = plot::blue, .style = plot::mark::line};
      plot::series lo{.label = "95% interval", .colour = plot::green, .style = plot::mark::line};
      plot::series hi{.colour = plot::green, .style = plot::mark::line};
      plot::series base{.label = "image only", .colour = plot::dark_grey, .style = plot::mark::line};
      for (std::size_t k = 0; k < xs.size(); ++k) {
        const auto& a = accs[rows[k]];
        mean.x.push_back(xs[k]), mean.y.push_back(a.mean);
        lo.x.push_back(xs[k]), lo.y.push_back(a.mean - a.half);
        hi.x.push_back(xs[k]), hi.y.push_back(a.mean + a.half);
        base.x.push_back(xs[k]), base.y.push_back(accs[0].mean);
      }
      chart.data = {mean, lo, hi, base};
    };
    plot::chart by_alpha{.title = "UML: held-out image accuracy vs alpha (256 unpaired texts)",
                         .x_label = "alpha (weight of the text loss)",
                         .y_label = "image accuracy",
                         .log_x = false,
                         .data = {}};
    band(by_alpha, {0.0, 0.5, 1.0, 1.5}, {0, 1, 2, 3}, "UML, mean of seeds");
    plot::series control{.label = "uninformative texts", .colour = plot::red};
    control.x = {1.0}, control.y = {accs[8].mean};
    by_alpha.data.push_back(control);
    plot::chart by_texts{.title = "UML: held-out image accuracy vs unpaired texts (alpha 1)",
                         .x_label = "unpaired texts (log scale)",
                         .y_label = "image accuracy",
                         .log_x = true,
                         .data = {}};
    band(by_texts, {16, 64, 256, 1024}, {4, 5, 2, 6}, "UML, mean of seeds");
    by_alpha.save(png + "_alpha.png");
    by_texts.save(png + "_texts.png");
    std::printf("plots: %s_alpha.png, %s_texts.png\n", png.c_str(), png.c_str());
  }
  const bool gain = gains[2].mean - gains[2].half > 0;
  const bool control_no_gain = gains[8].mean - gains[8].half <= 0;
  std::printf("check: gain at alpha 1 %s; uninformative texts %s\n",
              gain ? "positive, interval above 0" : "NOT significant",
              control_no_gain ? "give no significant gain" : "GIVE A GAIN (they carry no class information)");
  return gain && control_no_gain ? 0 : 1;
}
