// A character-level transformer language model trained on a short text shipped in the repository
// (examples/data/text/equations.txt): token embedding plus learned positions, one pre-norm causal transformer block
// (nn::transformer_block), a final layer norm and a linear head, every piece an equation; the gradient program is
// derived at compile time and trained with AdamW on random windows of the text. Prints a progress line every 25
// steps, writes the loss curve to CSV and PNG, then samples text from the trained model.
//
//   example_char_transformer [steps] [csv] [png]       (defaults: 300, char_transformer_loss.csv, .png)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <tensorlogic/tensorlogic.hpp>

#include "char_lm.hpp"
#include "support/plot.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;

namespace {
using namespace char_lm;  // the model (char_lm.hpp)

constexpr int context = 32, batch = 16, width = 64, heads = 4;

tl::extents_list shape(int count, int vocab) {
  return tl::extents(n = count, p = context, q = context, e = width, v = vocab, blk.att.head = heads,
                     blk.att.hd = width / heads, blk.ff.h<0> = 2 * width);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 300;
  const std::string csv = argc > 2 ? argv[2] : "char_transformer_loss.csv";
  const std::string png = argc > 3 ? argv[3] : "char_transformer_loss.png";

  const std::string text = read_text(std::string(TENSORLOGIC_EXAMPLE_DATA) + "/text/equations.txt");
  std::string alphabet = text;
  std::sort(alphabet.begin(), alphabet.end());
  alphabet.erase(std::unique(alphabet.begin(), alphabet.end()), alphabet.end());
  const int vocab = static_cast<int>(alphabet.size());
  std::vector<int> ids;
  for (char c : text) ids.push_back(static_cast<int>(alphabet.find(c)));
  std::printf("text: %zu characters, %d distinct; model: 1 causal transformer block, width %d, %d heads, context %d\n",
              text.size(), vocab, width, heads, context);

  tl::store s(train, shape(batch, vocab));
  nn::init(s, 2024, emb, blk, lnf, head);
  std::mt19937 gen(7);
  {
    std::normal_distribution<double> w(0.0, 0.05);
    for (std::size_t k = 0; k < s[Pos].span(); ++k) s[Pos].data()[k] = static_cast<float>(w(gen));
  }
  tl::adamw opt(s, params, {.lr = tl::schedule::cosine(3e-3, steps, 20, 3e-4), .weight_decay = 0.01});
  std::uniform_int_distribution<std::size_t> start(0, ids.size() - context - 1);

  // a batch of random windows: inputs ids[s .. s+context), targets ids[s+1 .. s+context]
  auto fill_batch = [&](auto& st, int count) {
    std::vector<int> in;
    auto& t = st[T];
    for (std::size_t k = 0; k < t.span(); ++k) t.data()[k] = 0;
    for (int a = 0; a < count; ++a) {
      const std::size_t at = start(gen);
      for (int k = 0; k < context; ++k) {
        in.push_back(ids[at + k]);
        t(a, k, ids[at + k + 1]) = 1;
      }
    }
    nn::one_hot(st, Tok, in);
    tl::bind(st, inv_n, 1.0 / (count * context));
  };

  std::ofstream out(csv);
  out << "step,loss\n";
  std::vector<double> xs, losses;
  const auto t0 = std::chrono::steady_clock::now();
  double smoothed = std::log(static_cast<double>(vocab));
  for (int step = 0; step < steps; ++step) {
    fill_batch(s, batch);
    tl::eval(train, s);
    tl::clip_grad_norm(s, params, 1.0);
    opt.step(s);
    const double loss = s[L]();
    smoothed = step == 0 ? loss : 0.9 * smoothed + 0.1 * loss;
    out << step << "," << loss << "\n";
    xs.push_back(step);
    losses.push_back(loss);
    if (step % 25 == 0 || step == steps - 1) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("step %4d  loss %.3f (smoothed %.3f, uniform %.3f)  %.0f tokens/s\n", step, loss, smoothed,
                  std::log(static_cast<double>(vocab)), (step + 1) * double(batch * context) / secs);
    }
  }
  out.close();
  namespace plot = examples::plot;
  plot::chart chart{.title = "character transformer: training loss", .x_label = "step",
                    .y_label = "cross-entropy (nats per character)", .log_x = false, .data = {}};
  chart.data.push_back(plot::series{.label = "loss", .x = xs, .y = losses, .colour = plot::blue,
                                    .style = plot::mark::line});
  chart.save(png);
  std::printf("loss curve: %s, %s\n", csv.c_str(), png.c_str());

  // Sampling: the forward program on one window, sharing the trained parameters; temperature 0.7.
  tl::store g(lm, shape(1, vocab));
  nn::share(g, s, emb, blk, lnf, head, tl::wrt(Pos));
  Kokkos::deep_copy(g[T], 0.0f);  // no targets when sampling (the loss is not read)
  std::string sample = "the ";
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int k = 0; k < 240; ++k) {
    std::vector<int> window(context, static_cast<int>(alphabet.find(' ')));
    const int have = std::min<int>(context, static_cast<int>(sample.size()));
    for (int j = 0; j < have; ++j)
      window[context - have + j] = static_cast<int>(alphabet.find(sample[sample.size() - have + j]));
    nn::one_hot(g, Tok, window);
    tl::bind(g, inv_n, 1.0);
    tl::eval(lm, g);
    std::vector<double> prob(vocab);
    double total = 0;
    for (int c = 0; c < vocab; ++c) total += prob[c] = std::exp(g[Y](0, context - 1, c) / 0.7);
    double r = u(gen) * total;
    int pick = 0;
    while (pick + 1 < vocab && (r -= prob[pick]) > 0) ++pick;
    sample.push_back(alphabet[pick]);
  }
  std::printf("sample:\n%s\n", sample.c_str());
  // the mean loss of the last 20 steps against the uniform model's log(vocabulary)
  const std::size_t tail = std::min<std::size_t>(20, losses.size());
  double last = 0;
  for (std::size_t k = losses.size() - tail; k < losses.size(); ++k) last += losses[k] / tail;
  const double uniform = std::log(static_cast<double>(vocab));
  const bool learned = last < 0.75 * uniform;
  std::printf("check: mean loss of the last %zu steps %.3f vs %.3f for a uniform guess: %s\n", tail, last, uniform,
              learned ? "the model learned the text's statistics" : "FAILED: the loss did not fall enough");
  return learned ? 0 : 1;
}
