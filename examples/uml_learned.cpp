// UML learned: a few labelled "images" and many unpaired "texts" of the same four classes, one shared trunk.
//
// Every class is an 8 x 8 pattern (three Gaussian blobs at random cells). An image is the pattern times a random
// brightness plus Gaussian noise. The two modalities are different noisy views of one latent class structure, never
// paired. Two variants of the texts and the model:
//
//  - aligned (default): a text is a bag of 12 words over a 64-word vocabulary in which word v names cell v: each word
//    is drawn from the class's lit cells (in proportion to the pattern) with probability 0.6 and uniformly otherwise.
//    Private encoders: a layer norm over the 64 features with its own gain and bias per modality (standardizing
//    intensities and word frequencies); shared trunk: an MLP 64 -> 32 -> 4 whose last layer is the class head.
//  - unrelated (--variant unrelated): the texts have their own 100-word vocabulary whose class topics are three
//    blobs on a 10 x 10 grid drawn independently of the image patterns, so no word names a cell and the only thing
//    the modalities share is the class. Private encoders: a layer norm and a learned linear projection into the
//    shared width 32 per modality (64 -> 32 for images, 100 -> 32 for texts); shared trunk: an MLP 32 -> 32 -> 4.
//    Whatever the texts teach must reach the images through the shared trunk and head.
//
// One tensorlogic program per variant: the trunk is applied to both modalities with tl::nn::tagged; cross-entropy
// per modality; L = alpha_x L_X + alpha_y L_Y; AdamW. Each step draws the X batch (all labelled images) and an
// independently shuffled batch of 32 texts. Image accuracy is measured on 800 held-out images by a program over the
// image modality alone that shares the trained parameters; text accuracy on 256 held-out texts.
//
// Default mode: a progress line per epoch for one run, then over S seeds (each seed: new patterns, data and
// initialization; all settings of a seed see the same data): image accuracy against alpha in {0, 0.5, 1, 1.5},
// against the number of unpaired texts, with the warm start, and a control whose texts carry no class information
// (words uniform), as means with 95% t-intervals and the paired gain over alpha = 0 (image-only training, which the
// tests prove equal to the unimodal program). Aligned: returns non-zero unless the gain at alpha = 1 has its interval
// above 0 and the control shows no significant gain. Unrelated: the gain is reported whatever its sign; returns
// non-zero unless the texts were learned (held-out text accuracy at alpha = 1 above 0.6, chance 0.25) and the
// control shows no significant gain.
//
// --exchange: the exchange rate of the learned model. Image-only accuracy is measured against the number of labelled
// images n_x in {8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256} (2 to 64 per class) and UML accuracy at n_x = 8 with
// n_y in {16, 64, 256, 1024} unpaired texts (alpha 1), over the same seeds. n_x' is the number of labelled images
// at which the mean image-only curve reaches the mean UML accuracy (log-linear interpolation between sweep points,
// first crossing);
// the exchange rate is n_y / (n_x' - n_x) unpaired texts per labelled image, with a 95% percentile interval from
// 2000 bootstrap resamples of the seeds. Returns non-zero unless image-only accuracy rises from 8 to 256 labelled
// images (paired gain with its interval above 0).
//
//   example_uml_learned [--variant aligned|unrelated] [--exchange] [--seeds S]
//                       [--png PREFIX (PREFIX_alpha.png and PREFIX_texts.png; with --exchange PREFIX_exchange.png)]
//                       [--csv results.csv]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
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
inline constexpr tl::index<"f"> f;  // the 64 cells (and, aligned, the 64 words)
inline constexpr tl::index<"v"> v;  // unrelated: the 100 words
inline constexpr tl::index<"w"> w;  // unrelated: the shared width
inline constexpr tl::index<"c"> c;  // classes
inline constexpr tl::tensor<"X", float, 2> X;
inline constexpr tl::tensor<"Y", float, 2> Y;
inline constexpr tl::tensor<"Ax", float, 2> Ax;
inline constexpr tl::tensor<"Ay", float, 2> Ay;
inline constexpr tl::tensor<"Zx", float, 2> Zx;
inline constexpr tl::tensor<"Zy", float, 2> Zy;
inline constexpr tl::tensor<"Ox", float, 2> Ox;
inline constexpr tl::tensor<"Oy", float, 2> Oy;
inline constexpr tl::tensor<"Tx", float, 2> Tx;
inline constexpr tl::tensor<"Ty", float, 2> Ty;

inline constexpr nn::mlp<"trunk", float, 1> trunk;
inline constexpr nn::cross_entropy<"ce"> ce;
inline constexpr mm::objective<"uml"> uml;

constexpr int classes = 4, side = 8, cells = side * side, words_per_text = 12, hidden = 32;
constexpr int text_side = 10, words = text_side * text_side, width = 32;
constexpr int labelled_per_class = 2, test_images = 800, test_texts = 256, text_batch = 32, epochs = 12,
              steps_per_epoch = 25;

// The aligned variant: word v names cell v, the encoders are layer norms over the same 64 features.
namespace aligned {
inline constexpr nn::layer_norm<"img"> enc_x;
inline constexpr nn::layer_norm<"txt"> enc_y;
constexpr auto image_part = tl::compose(enc_x(Zx(n, f), X(n, f)), nn::tagged<"x">(trunk)(Ox(n, c), Zx(n, f)));
constexpr auto model =
    tl::compose(image_part, nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)), enc_y(Zy(m, f), Y(m, f)),
                nn::tagged<"y">(trunk)(Oy(m, c), Zy(m, f)), nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)), uml());
constexpr auto params = nn::parameters(enc_x, enc_y, trunk);
// The gradient program under a name of its own: the compiler then spells `train_t`, not every equation, in
// each function it instantiates for the program (a third less compile time; docs/performance.md).
constexpr auto train_equations = tl::gradient(model, uml.L, params);
struct train_t : std::remove_cvref_t<decltype(train_equations)> {};
constexpr train_t train{train_equations};
struct variant {
  static constexpr const char* name = "aligned";
  static constexpr int text_features = cells;
  static constexpr const auto& train = aligned::train;
  static constexpr const auto& image_part = aligned::image_part;
  static constexpr const auto& params = aligned::params;
  static auto train_shape(int n_x) {
    return tl::extents(n = n_x, m = text_batch, f = cells, c = classes, trunk.h<0> = hidden);
  }
  static auto image_shape(int rows) { return tl::extents(n = rows, f = cells, c = classes, trunk.h<0> = hidden); }
  template <class Store>
  static void init(Store& s, std::uint64_t seed) {
    nn::init(s, seed, enc_x, enc_y, trunk);
  }
  template <class Dst, class Src>
  static void share(Dst& dst, Src& src) {
    nn::share(dst, src, enc_x, trunk);
  }
};
}  // namespace aligned

// The unrelated variant: each modality has its own vocabulary and a private layer norm plus a learned projection
// into the shared width; only the trunk (and its head) is shared.
namespace unrelated {
inline constexpr nn::layer_norm<"img"> norm_x;
inline constexpr nn::linear<"imgp"> proj_x;
inline constexpr nn::layer_norm<"txt"> norm_y;
inline constexpr nn::linear<"txtp"> proj_y;
constexpr auto image_part = tl::compose(norm_x(Ax(n, f), X(n, f)), proj_x(Zx(n, w), Ax(n, f)),
                                        nn::tagged<"x">(trunk)(Ox(n, c), Zx(n, w)));
constexpr auto model = tl::compose(image_part, nn::tagged<"x">(ce)(uml.Lx(), Ox(n, c), Tx(n, c)),
                                   norm_y(Ay(m, v), Y(m, v)), proj_y(Zy(m, w), Ay(m, v)),
                                   nn::tagged<"y">(trunk)(Oy(m, c), Zy(m, w)),
                                   nn::tagged<"y">(ce)(uml.Ly(), Oy(m, c), Ty(m, c)), uml());
constexpr auto params = nn::parameters(norm_x, proj_x, norm_y, proj_y, trunk);
constexpr auto train_equations = tl::gradient(model, uml.L, params);
struct train_t : std::remove_cvref_t<decltype(train_equations)> {};
constexpr train_t train{train_equations};
struct variant {
  static constexpr const char* name = "unrelated";
  static constexpr int text_features = words;
  static constexpr const auto& train = unrelated::train;
  static constexpr const auto& image_part = unrelated::image_part;
  static constexpr const auto& params = unrelated::params;
  static auto train_shape(int n_x) {
    return tl::extents(n = n_x, m = text_batch, f = cells, v = words, w = width, c = classes, trunk.h<0> = hidden);
  }
  static auto image_shape(int rows) {
    return tl::extents(n = rows, f = cells, w = width, c = classes, trunk.h<0> = hidden);
  }
  template <class Store>
  static void init(Store& s, std::uint64_t seed) {
    nn::init(s, seed, norm_x, proj_x, norm_y, proj_y, trunk);
  }
  template <class Dst, class Src>
  static void share(Dst& dst, Src& src) {
    nn::share(dst, src, norm_x, proj_x, trunk);
  }
};
}  // namespace unrelated

struct sample {
  std::vector<float> features;
  int label;
};

// Per class, a grid x grid pattern of three Gaussian blobs at random cells, scaled to a maximum of 1.
std::vector<std::vector<double>> blob_patterns(int grid, std::mt19937_64& gen) {
  std::vector<std::vector<double>> out(classes, std::vector<double>(static_cast<std::size_t>(grid * grid)));
  std::uniform_int_distribution<int> cell(0, grid - 1);
  for (auto& p : out) {
    for (int blob = 0; blob < 3; ++blob) {
      const int cx = cell(gen), cy = cell(gen);
      for (int y = 0; y < grid; ++y)
        for (int x = 0; x < grid; ++x)
          p[y * grid + x] += std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * 1.2 * 1.2));
    }
    const double top = *std::max_element(p.begin(), p.end());
    for (auto& value : p) value /= top;
  }
  return out;
}

// The latent class structure of one seed and the two modalities drawn from it. Aligned: the text topics are the
// image patterns and texts are drawn from the images' engine. Unrelated: the topics are independent patterns on the
// 10 x 10 word grid, drawn (with the texts) from an engine of their own, so a seed's images are the same in both
// variants.
struct world {
  bool own_vocabulary;
  std::mt19937_64 gen, text_gen;
  std::vector<std::vector<double>> pattern;  // per class, 64 cells in [0, 1]
  std::vector<std::vector<double>> topic;    // per class, the word weights

  world(std::uint64_t seed, bool unrelated_texts)
      : own_vocabulary(unrelated_texts), gen(seed), text_gen(seed + 7919), pattern(blob_patterns(side, gen)),
        topic(own_vocabulary ? blob_patterns(text_side, text_gen) : pattern) {}
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
    auto& g = own_vocabulary ? text_gen : gen;
    const int vocabulary = static_cast<int>(topic[label].size());
    std::discrete_distribution<int> topical(topic[label].begin(), topic[label].end());
    std::uniform_int_distribution<int> any(0, vocabulary - 1);
    std::bernoulli_distribution on_topic(informative ? 0.6 : 0.0);
    sample s{std::vector<float>(static_cast<std::size_t>(vocabulary)), label};
    for (int k = 0; k < words_per_text; ++k) s.features[on_topic(g) ? topical(g) : any(g)] += 1.0f / words_per_text;
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
    for (std::size_t k = 0; k < d.features.size(); ++k) s[rows](r, k) = d.features[k];
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
  std::vector<sample> labelled, test, texts, noise_texts, held_out_texts;
};

// The accuracies of one trained model; text is NaN when no informative text was trained on.
struct result {
  double image, text;
};

// Trains one model on the labelled images and the setting's texts; returns its held-out accuracies.
template <class V>
result run(const setting& st, const std::vector<sample>& labelled, const data_of_seed& d, std::uint64_t seed,
           bool progress) {
  const int n_x = static_cast<int>(labelled.size());
  tl::store s(V::train, V::train_shape(n_x));
  V::init(s, seed);
  nn::tagged<"x">(ce).normalize(s, n_x);
  nn::tagged<"y">(ce).normalize(s, text_batch);
  std::vector<std::size_t> all(labelled.size());
  for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
  put_rows(s, X, Tx, labelled, all);
  const auto& texts = st.informative ? d.texts : d.noise_texts;
  const int n_texts = std::min<int>(st.texts, static_cast<int>(texts.size()));
  const double alpha_y = n_texts > 0 ? st.alpha_y : 0.0;
  mm::batch_sampler text_batches(std::max(n_texts, 1), text_batch, seed + 17);
  s[Y], s[Ty];  // zeros (no text) until a batch is written
  auto fill_y = [&](auto& store) {
    if (alpha_y > 0) put_rows(store, Y, Ty, texts, text_batches.next());
  };
  tl::adamw opt(s, V::params,
                {.lr = tl::schedule::cosine(0.01, epochs * steps_per_epoch, 20, 0.001), .weight_decay = 1e-3});
  const mm::weights wt{.alpha_x = 1.0, .alpha_y = alpha_y, .warm_start = st.warm_start};

  tl::store eval_store(V::image_part, V::image_shape(test_images));
  V::share(eval_store, s);
  std::vector<int> labels;
  for (const auto& t : d.test) labels.push_back(t.label);
  for (std::size_t r = 0; r < d.test.size(); ++r)
    for (int k = 0; k < cells; ++k) eval_store[X](r, k) = d.test[r].features[k];
  auto accuracy = [&] {
    tl::eval(V::image_part, eval_store);
    return mm::accuracy(eval_store, Ox, labels);
  };
  for (int e = 0; e < epochs; ++e) {
    const auto r = mm::fit_epoch(V::train, s, opt, uml, V::params, wt, e, steps_per_epoch, [](auto&) {}, fill_y);
    if (progress)
      std::printf("  epoch %2d  alpha_x %.1f alpha_y %.1f  L_X %.4f  L_Y %.4f  |grad| %.3f  image accuracy %.3f\n", e,
                  r.alpha_x, r.alpha_y, r.loss_x, r.loss_y, r.grad_norm, accuracy());
  }
  result out{accuracy(), std::numeric_limits<double>::quiet_NaN()};
  if (alpha_y > 0 && st.informative) {
    // Held-out texts through the trained text path, a batch at a time (the gradient program's forward pass; no
    // step follows).
    std::size_t right = 0;
    for (std::size_t first = 0; first < d.held_out_texts.size(); first += text_batch) {
      std::vector<std::size_t> rows;
      std::vector<int> text_labels;
      for (std::size_t k = first; k < first + text_batch; ++k) {
        rows.push_back(k);
        text_labels.push_back(d.held_out_texts[k].label);
      }
      put_rows(s, Y, Ty, d.held_out_texts, rows);
      tl::eval(V::train, s);
      right += static_cast<std::size_t>(std::lround(mm::accuracy(s, Oy, text_labels) * text_batch));
    }
    out.text = static_cast<double>(right) / static_cast<double>(d.held_out_texts.size());
  }
  return out;
}

// Mean and half-width of the 95% t-interval.
struct interval {
  double mean, half;
};
interval t_interval(const std::vector<double>& values) {
  static const double t975[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
  const std::size_t k = values.size();
  double mean = 0;
  for (double x : values) mean += x;
  mean /= static_cast<double>(k);
  if (k < 2) return {mean, 0};
  double var = 0;
  for (double x : values) var += (x - mean) * (x - mean);
  var /= static_cast<double>(k - 1);
  const double t = k - 1 < 21 ? t975[k - 1] : 1.96;
  return {mean, t * std::sqrt(var / static_cast<double>(k))};
}

data_of_seed draw_data(int seed, bool unrelated_texts, int labelled_pool_per_class) {
  world wd(1000 + static_cast<std::uint64_t>(seed), unrelated_texts);
  data_of_seed d;
  d.labelled = wd.images(labelled_pool_per_class);
  d.test = wd.images(test_images / classes);
  d.texts = wd.texts(1024, true);
  d.noise_texts = wd.texts(256, false);
  d.held_out_texts = wd.texts(test_texts, true);
  return d;
}

// The accuracy table against alpha, the number of texts, the warm start and the control.
template <class V>
int compare_settings(int seeds, const std::string& png, const std::string& csv) {
  constexpr bool unrelated_texts = V::text_features != cells;
  const std::vector<setting> settings{
      {"image only (alpha 0)", 0.0, 256},   {"alpha 0.5", 0.5, 256},
      {"alpha 1", 1.0, 256},                {"alpha 1.5", 1.5, 256},
      {"alpha 1, 16 texts", 1.0, 16},       {"alpha 1, 64 texts", 1.0, 64},
      {"alpha 1, 1024 texts", 1.0, 1024},   {"alpha 1, warm start 4 epochs", 1.0, 256, 4},
      {"control: uninformative texts", 1.0, 256, -1, false},
  };
  std::printf("UML learned (%s texts): %d classes, %d labelled images (%d per class), %d held-out images, text batch "
              "%d, %d epochs x %d steps\n",
              V::name, classes, classes * labelled_per_class, labelled_per_class, test_images, text_batch, epochs,
              steps_per_epoch);
  std::vector<std::vector<double>> acc(settings.size()), text_acc(settings.size());
  for (int seed = 0; seed < seeds; ++seed) {
    const data_of_seed d = draw_data(seed, unrelated_texts, labelled_per_class);
    for (std::size_t k = 0; k < settings.size(); ++k) {
      const bool progress = seed == 0 && (k == 0 || k == 2);
      if (progress) std::printf("seed 0, %s:\n", settings[k].name.c_str());
      const result r = run<V>(settings[k], d.labelled, d, 7 + static_cast<std::uint64_t>(seed), progress);
      acc[k].push_back(r.image);
      text_acc[k].push_back(r.text);
    }
  }

  std::printf("\nHeld-out image accuracy over %d seeds (mean and 95%% t-interval; gain: paired difference with alpha "
              "0; text: mean held-out text accuracy)\n",
              seeds);
  std::printf("| setting | texts | image accuracy | 95%% interval | gain | 95%% interval | text accuracy |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  std::vector<interval> gains(settings.size()), accs(settings.size()), texts(settings.size());
  for (std::size_t k = 0; k < settings.size(); ++k) {
    std::vector<double> diff;
    for (int s = 0; s < seeds; ++s) diff.push_back(acc[k][s] - acc[0][s]);
    accs[k] = t_interval(acc[k]);
    gains[k] = t_interval(diff);
    texts[k] = t_interval(text_acc[k]);
    char text_cell[32] = "";
    if (std::isfinite(texts[k].mean)) std::snprintf(text_cell, sizeof text_cell, "%.3f", texts[k].mean);
    std::printf("| %s | %d | %.3f | [%.3f, %.3f] | %+.3f | [%+.3f, %+.3f] | %s |\n", settings[k].name.c_str(),
                settings[k].alpha_y > 0 ? settings[k].texts : 0, accs[k].mean, accs[k].mean - accs[k].half,
                accs[k].mean + accs[k].half, gains[k].mean, gains[k].mean - gains[k].half,
                gains[k].mean + gains[k].half, text_cell);
  }
  if (!csv.empty()) {
    std::ofstream out(csv);
    out << "variant,setting,alpha_y,texts,seed,image_accuracy,text_accuracy\n";
    for (std::size_t k = 0; k < settings.size(); ++k)
      for (int s = 0; s < seeds; ++s)
        out << V::name << ",\"" << settings[k].name << "\"," << settings[k].alpha_y << ',' << settings[k].texts << ','
            << s << ',' << acc[k][s] << ',' << text_acc[k][s] << '\n';
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
    plot::chart by_alpha{.title = unrelated_texts ? "UML, unrelated vocabularies: image accuracy vs alpha"
                                                  : "UML: held-out image accuracy vs alpha (256 unpaired texts)",
                         .x_label = "alpha (weight of the text loss)",
                         .y_label = "image accuracy",
                         .log_x = false,
                         .data = {}};
    band(by_alpha, {0.0, 0.5, 1.0, 1.5}, {0, 1, 2, 3}, "UML, mean of seeds");
    plot::series control{.label = "uninformative texts", .colour = plot::red};
    control.x = {1.0}, control.y = {accs[8].mean};
    by_alpha.data.push_back(control);
    plot::chart by_texts{.title = unrelated_texts ? "UML, unrelated vocabularies: image accuracy vs texts"
                                                  : "UML: held-out image accuracy vs unpaired texts (alpha 1)",
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
  const bool texts_learned = texts[2].mean > 0.6;
  std::printf("check: gain at alpha 1 %s; uninformative texts %s; held-out text accuracy at alpha 1 %.3f\n",
              gain ? "positive, interval above 0" : "NOT significant",
              control_no_gain ? "give no significant gain" : "GIVE A GAIN (they carry no class information)",
              texts[2].mean);
  if (unrelated_texts) return texts_learned && control_no_gain ? 0 : 1;
  return gain && control_no_gain ? 0 : 1;
}

// The number of labelled images at which a mean accuracy curve (ascending sizes) first reaches `target`: log-linear
// interpolation between sweep points; the smallest size when the curve starts at or above it (no gain over the
// base), +inf when the curve never reaches it.
double equivalent_images(const std::vector<int>& sizes, const std::vector<double>& curve, double target) {
  if (target <= curve[0]) return sizes[0];
  for (std::size_t k = 1; k < sizes.size(); ++k)
    if (curve[k] >= target) {
      const double t = (target - curve[k - 1]) / (curve[k] - curve[k - 1]);
      return std::exp(std::log(sizes[k - 1]) + t * (std::log(sizes[k]) - std::log(sizes[k - 1])));
    }
  return std::numeric_limits<double>::infinity();
}

// Unpaired texts per labelled image: n_y / (n_x' - n_x); +inf when the texts bought nothing, 0 when n_x' is beyond
// the sweep.
double texts_per_image(double n_y, double equivalent, double base) {
  if (!(equivalent > base)) return std::numeric_limits<double>::infinity();
  return std::isfinite(equivalent) ? n_y / (equivalent - base) : 0.0;
}

std::string number_or_bound(double x, const char* fmt, double sweep_end) {
  if (!std::isfinite(x)) return "> " + std::to_string(static_cast<int>(sweep_end));
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}
std::string rate_text(double r, double limit) {
  if (!std::isfinite(r)) return "inf (no gain)";
  if (r == 0) return "< " + number_or_bound(limit, "%.1f", 0);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", r);
  return buf;
}

template <class V>
int exchange(int seeds, const std::string& png, const std::string& csv) {
  constexpr bool unrelated_texts = V::text_features != cells;
  const std::vector<int> per_class{2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64};
  const std::vector<int> text_counts{16, 64, 256, 1024};
  std::vector<int> sizes;
  for (int k : per_class) sizes.push_back(k * classes);
  const int base = sizes[0];
  std::printf("UML exchange rate (%s texts): image-only accuracy for %d..%d labelled images against UML at %d "
              "labelled images (alpha 1), %d seeds, %d held-out images\n",
              V::name, sizes.front(), sizes.back(), base, seeds, test_images);
  std::vector<std::vector<double>> only(sizes.size()), with(text_counts.size());
  for (int seed = 0; seed < seeds; ++seed) {
    // The first 4k images of the pool hold k per class, so every smaller labelled set is part of every larger one.
    const data_of_seed d = draw_data(seed, unrelated_texts, per_class.back());
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::vector<sample> labelled(d.labelled.begin(), d.labelled.begin() + sizes[k]);
      only[k].push_back(run<V>({"image only", 0.0, 0}, labelled, d, 7 + static_cast<std::uint64_t>(seed), false).image);
    }
    const std::vector<sample> labelled(d.labelled.begin(), d.labelled.begin() + base);
    for (std::size_t k = 0; k < text_counts.size(); ++k)
      with[k].push_back(
          run<V>({"uml", 1.0, text_counts[k]}, labelled, d, 7 + static_cast<std::uint64_t>(seed), false).image);
  }
  auto mean_of = [&](const std::vector<std::vector<double>>& rows, const std::vector<int>& pick) {
    std::vector<double> out;
    for (const auto& r : rows) {
      double sum = 0;
      for (int s : pick) sum += r[s];
      out.push_back(sum / static_cast<double>(pick.size()));
    }
    return out;
  };
  std::vector<int> every(seeds);
  for (int s = 0; s < seeds; ++s) every[s] = s;
  const auto curve = mean_of(only, every), uml_mean = mean_of(with, every);

  std::printf("\nImage-only accuracy against labelled images (mean and 95%% t-interval over %d seeds)\n", seeds);
  std::printf("| labelled images | image accuracy | 95%% interval |\n|---:|---:|---:|\n");
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const auto a = t_interval(only[k]);
    std::printf("| %d | %.3f | [%.3f, %.3f] |\n", sizes[k], a.mean, a.mean - a.half, a.mean + a.half);
  }
  // Bootstrap over seeds: the curve and the UML accuracies are resampled together (they are paired by seed).
  constexpr int resamples = 2000;
  std::mt19937_64 boot(12345);
  std::uniform_int_distribution<int> pick_seed(0, seeds - 1);
  std::vector<std::vector<double>> eq_boot(text_counts.size());
  for (int b = 0; b < resamples; ++b) {
    std::vector<int> pick(seeds);
    for (int& s : pick) s = pick_seed(boot);
    const auto c_b = mean_of(only, pick), u_b = mean_of(with, pick);
    for (std::size_t k = 0; k < text_counts.size(); ++k) eq_boot[k].push_back(equivalent_images(sizes, c_b, u_b[k]));
  }
  std::printf("\nUML at %d labelled images: equivalent labelled images n_x' (image-only curve reaches the UML "
              "accuracy) and the exchange rate n_y / (n_x' - %d), 95%% bootstrap intervals (%d resamples of the "
              "seeds)\n",
              base, base, resamples);
  std::printf("| unpaired texts n_y | UML image accuracy | 95%% interval | n_x' | 95%% interval | texts per labelled "
              "image | 95%% interval |\n|---:|---:|---:|---:|---:|---:|---:|\n");
  const double sweep_end = sizes.back();
  const double rate_limit_denominator = sweep_end - base;
  std::vector<double> equivalents;
  for (std::size_t k = 0; k < text_counts.size(); ++k) {
    const auto a = t_interval(with[k]);
    const double eq = equivalent_images(sizes, curve, uml_mean[k]);
    equivalents.push_back(eq);
    auto sorted = eq_boot[k];
    std::sort(sorted.begin(), sorted.end());
    const double lo = sorted[static_cast<std::size_t>(0.025 * resamples)],
                 hi = sorted[static_cast<std::size_t>(0.975 * resamples) - 1];
    const double ny = text_counts[k], limit = ny / rate_limit_denominator;
    // The rate falls as n_x' grows, so the interval's ends swap.
    std::printf("| %d | %.3f | [%.3f, %.3f] | %s | [%s, %s] | %s | [%s, %s] |\n", text_counts[k], a.mean,
                a.mean - a.half, a.mean + a.half, number_or_bound(eq, "%.1f", sweep_end).c_str(),
                number_or_bound(lo, "%.1f", sweep_end).c_str(), number_or_bound(hi, "%.1f", sweep_end).c_str(),
                rate_text(texts_per_image(ny, eq, base), limit).c_str(),
                rate_text(texts_per_image(ny, hi, base), limit).c_str(),
                rate_text(texts_per_image(ny, lo, base), limit).c_str());
  }
  if (!csv.empty()) {
    std::ofstream out(csv);
    out << "variant,setting,labelled_images,texts,seed,image_accuracy\n";
    for (std::size_t k = 0; k < sizes.size(); ++k)
      for (int s = 0; s < seeds; ++s)
        out << V::name << ",image only," << sizes[k] << ",0," << s << ',' << only[k][s] << '\n';
    for (std::size_t k = 0; k < text_counts.size(); ++k)
      for (int s = 0; s < seeds; ++s)
        out << V::name << ",uml," << base << ',' << text_counts[k] << ',' << s << ',' << with[k][s] << '\n';
    std::printf("csv: %s\n", csv.c_str());
  }
  if (!png.empty()) {
    namespace plot = examples::plot;
    plot::chart chart{.title = std::string("UML exchange rate (") + V::name + "): accuracy vs labelled images",
                      .x_label = "labelled images (log scale)",
                      .y_label = "image accuracy",
                      .log_x = true,
                      .data = {}};
    plot::series curve_line{.label = "image only", .colour = plot::dark_grey, .style = plot::mark::line};
    for (std::size_t k = 0; k < sizes.size(); ++k) curve_line.x.push_back(sizes[k]), curve_line.y.push_back(curve[k]);
    chart.data.push_back(curve_line);
    const plot::color colours[] = {plot::green, plot::orange, plot::blue, plot::red};
    for (std::size_t k = 0; k < text_counts.size(); ++k) {
      plot::series level{.label = "UML, " + std::to_string(base) + " images + " + std::to_string(text_counts[k]) +
                                  " texts",
                         .colour = colours[k],
                         .style = plot::mark::line};
      level.x = {static_cast<double>(sizes.front()), sweep_end};
      level.y = {uml_mean[k], uml_mean[k]};
      chart.data.push_back(level);
    }
    chart.save(png + "_exchange.png");
    std::printf("plot: %s_exchange.png\n", png.c_str());
  }
  std::vector<double> rise;
  for (int s = 0; s < seeds; ++s) rise.push_back(only.back()[s] - only.front()[s]);
  const auto r = t_interval(rise);
  std::printf("check: image-only accuracy from %d to %d labelled images %+.3f [%+.3f, %+.3f]\n", base,
              sizes.back(), r.mean, r.mean - r.half, r.mean + r.half);
  return r.mean - r.half > 0 ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  int seeds = 10;
  bool exchange_mode = false, unrelated_mode = false;
  std::string png, csv;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--seeds" && a + 1 < argc)
      seeds = std::max(2, std::min(20, std::atoi(argv[++a])));
    else if (arg == "--variant" && a + 1 < argc && (std::string(argv[a + 1]) == "aligned" ||
                                                    std::string(argv[a + 1]) == "unrelated"))
      unrelated_mode = std::string(argv[++a]) == "unrelated";
    else if (arg == "--exchange")
      exchange_mode = true;
    else if (arg == "--png" && a + 1 < argc)
      png = argv[++a];
    else if (arg == "--csv" && a + 1 < argc)
      csv = argv[++a];
    else {
      std::fprintf(stderr,
                   "usage: %s [--variant aligned|unrelated] [--exchange] [--seeds S (2..20)] [--png prefix] "
                   "[--csv file]\n",
                   argv[0]);
      return 2;
    }
  }
  if (exchange_mode)
    return unrelated_mode ? exchange<unrelated::variant>(seeds, png, csv) : exchange<aligned::variant>(seeds, png, csv);
  return unrelated_mode ? compare_settings<unrelated::variant>(seeds, png, csv)
                        : compare_settings<aligned::variant>(seeds, png, csv);
}
