// Delethink with a trained transformer: a chain whose state is bounded, reasoned over in chunks.
//
// The task is the Fibonacci chain mod 10: from a query of two digits the model writes f_2, f_3, ... with
// f_t = (f_{t-1} + f_{t-2}) mod 10, so the state a step needs is the last two digits. A small causal transformer
// (token embedding + learned positions, one nn::transformer_block, final layer norm, linear head; the
// char_transformer layout) is trained at start-up for a few seconds on contexts of 24 tokens: no prefix or a random
// prefix of 2 to 6 digits (standing for a Delethink prompt's query and pinned head), then a chain from a random pair,
// with the loss on the digits the chain's rule determines. Its weights are read out of the training store into
// reasoning::transformer_policy, which decodes greedily with a KV cache.
//
// Then every query is reasoned over for B = C + (I - 1)(C - m) digits twice:
//  - Delethink (chunked_generate, pinned_head_tail carryover): each chunk is a fresh context q ++ carry of at most
//    q + C tokens, within the positions the model was trained on, and the cache is reset at every chunk boundary;
//  - full context: one context of q + B tokens. The model's position table has 24 rows; for this run it is extended
//    with zero rows, so positions past the trained ones carry no position signal.
// Printed per method: chains whose final digit is right, chains right throughout, the digit accuracy, chunk count and
// peak KV bytes. The exit status is 0 when Delethink gets at least 90% of the final digits.
//
//   example_delethink [--steps N (300)] [--chains K (16)] [--chunk C (16)] [--carry m (4)] [--chunks I (20)]
//   example_delethink --plot-decode bench.csv out.png    (renders bench_decode's CSV output to a PNG and exits)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <tensorlogic/tensorlogic.hpp>

#include "char_lm.hpp"
#include "support/plot.hpp"

namespace tl = tensorlogic;
namespace nn = tensorlogic::nn;
namespace rs = tensorlogic::reasoning;

namespace {
using namespace char_lm;  // the model (char_lm.hpp)

constexpr int context = 24, batch = 32, width = 64, heads = 4, digits = 10, max_prefix = 6;

tl::extents_list shape(int count) {
  return tl::extents(n = count, p = context, q = context, e = width, v = digits, blk.att.head = heads,
                     blk.att.hd = width / heads, blk.ff.h<0> = 2 * width);
}

// The chain's rule applied to a prefix: what a correct step writes after `a, b`.
int next_digit(int a, int b) { return (a + b) % 10; }

// Renders bench_decode's CSV (Google Benchmark --benchmark_out_format=csv) to a PNG: tokens/s over the whole trace
// (lines) and over its last 1024 tokens (points), and peak KV MB, against the trace length, Delethink and full context.
int plot_decode(const std::string& csv, const std::string& png) {
  std::ifstream in(csv);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", csv.c_str());
    return 1;
  }
  auto split = [](const std::string& line) {
    std::vector<std::string> out;
    std::string cell;
    bool quoted = false;
    for (const char c : line) {
      if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted) {
        out.push_back(cell);
        cell.clear();
      } else
        cell.push_back(c);
    }
    out.push_back(cell);
    return out;
  };
  std::string line;
  std::vector<std::string> header;
  while (std::getline(in, line))
    if (line.rfind("name,", 0) == 0) {
      header = split(line);
      break;
    }
  auto column = [&](const std::string& name) {
    for (std::size_t k = 0; k < header.size(); ++k)
      if (header[k] == name) return static_cast<long>(k);
    return -1L;
  };
  const long name_col = column("name"), tps_col = column("tokens_per_s"), kv_col = column("peak_kv_bytes"),
             len_col = column("trace_tokens"), tail_col = column("tail_tokens_per_s");
  if (name_col < 0 || tps_col < 0 || kv_col < 0 || len_col < 0) {
    std::fprintf(stderr, "%s: no name/tokens_per_s/peak_kv_bytes/trace_tokens columns\n", csv.c_str());
    return 1;
  }
  std::map<std::string, examples::plot::series> speed, memory, late;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    if (cells.size() < header.size()) continue;
    const std::string& name = cells[static_cast<std::size_t>(name_col)];
    const std::string method = name.find("delethink") != std::string::npos        ? "Delethink C=1K m=512"
                               : name.find("streaming_rope") != std::string::npos ? "sink 4 + window 1020, RoPE"
                                                                                  : "full context";
    const double length = std::atof(cells[static_cast<std::size_t>(len_col)].c_str());
    speed[method].x.push_back(length);
    speed[method].y.push_back(std::atof(cells[static_cast<std::size_t>(tps_col)].c_str()));
    if (tail_col >= 0) {
      late[method].x.push_back(length);
      late[method].y.push_back(std::atof(cells[static_cast<std::size_t>(tail_col)].c_str()));
    }
    memory[method].x.push_back(length);
    memory[method].y.push_back(std::atof(cells[static_cast<std::size_t>(kv_col)].c_str()) / 1e6);
  }
  namespace plot = examples::plot;
  plot::chart left{.title = "decode throughput", .x_label = "trace length (tokens)", .y_label = "tokens/s",
                   .log_x = true, .data = {}};
  plot::chart right{.title = "peak KV cache", .x_label = "trace length (tokens)", .y_label = "MB", .log_x = true,
                    .data = {}};
  auto colour_of = [](const std::string& label) {
    return label == "full context" ? plot::orange : label.rfind("sink", 0) == 0 ? plot::green : plot::blue;
  };
  for (auto* m : {&speed, &memory})
    for (auto& [label, s] : *m) {
      s.label = label;
      s.colour = colour_of(label);
      s.style = plot::mark::line;
      (m == &speed ? left : right).data.push_back(s);
    }
  for (auto& [label, s] : late) {
    s.label = label + ", last 1K tokens";
    s.colour = colour_of(label);
    s.style = plot::mark::points;
    left.data.push_back(s);
  }
  const plot::canvas a = left.render(640, 420), b = right.render(640, 420);
  plot::canvas both(1280, 420);
  for (int y = 0; y < 420; ++y)
    for (int x = 0; x < 640; ++x) {
      both.set(x, y, a.get(x, y));
      both.set(640 + x, y, b.get(x, y));
    }
  both.write_png(png);
  std::printf("wrote %s\n", png.c_str());
  return 0;
}

struct outcome {
  int final_right = 0, chain_right = 0;
  long steps = 0, steps_right = 0;
  std::size_t chunks = 0, peak_kv = 0;
  double seconds = 0;
  std::vector<std::size_t> first_wrong;  // per chain with a wrong digit: the index of the first one in the trace
};

// Scores a trace against the chain: the final digit, the whole chain, and each step against the rule applied to the
// model's own two previous digits.
void score(outcome& o, const std::vector<rs::token_id>& query, const std::vector<rs::token_id>& trace) {
  int a = query[0], b = query[1];
  bool all = true;
  int truth = 0;
  std::vector<int> seen = {query[0], query[1]};
  for (const rs::token_id t : trace) {
    truth = next_digit(a, b);
    a = b;
    b = truth;
    if (all && t != truth) o.first_wrong.push_back(seen.size() - 2);
    all = all && t == truth;
    ++o.steps;
    o.steps_right += t == next_digit(seen[seen.size() - 2], seen.back()) ? 1 : 0;
    seen.push_back(t);
  }
  o.final_right += !trace.empty() && trace.back() == truth ? 1 : 0;
  o.chain_right += all ? 1 : 0;
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  int steps = 300, chains = 16;
  std::size_t chunk = 16, carry = 4, cap = 20;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--plot-decode" && a + 2 < argc) return plot_decode(argv[a + 1], argv[a + 2]);
    if (arg == "--steps" && a + 1 < argc)
      steps = std::max(1, std::atoi(argv[++a]));
    else if (arg == "--chains" && a + 1 < argc)
      chains = std::max(1, std::atoi(argv[++a]));
    else if (arg == "--chunk" && a + 1 < argc)
      chunk = static_cast<std::size_t>(std::max(3, std::atoi(argv[++a])));
    else if (arg == "--carry" && a + 1 < argc)
      carry = static_cast<std::size_t>(std::max(3, std::atoi(argv[++a])));
    else if (arg == "--chunks" && a + 1 < argc)
      cap = static_cast<std::size_t>(std::max(1, std::atoi(argv[++a])));
    else {
      std::fprintf(stderr,
                   "usage: %s [--steps N] [--chains K] [--chunk C] [--carry m (>= 3)] [--chunks I]\n"
                   "       %s --plot-decode bench.csv out.png\n",
                   argv[0], argv[0]);
      return 2;
    }
  }
  const std::size_t query_size = 2;
  if (query_size + chunk > static_cast<std::size_t>(context)) {
    std::fprintf(stderr, "--chunk %zu: q + C must stay within the %d trained positions\n", chunk, context);
    return 2;
  }
  const rs::delethink_options options{.chunk_size = chunk, .markovian_size = carry, .iteration_cap = cap,
                                      .keep_head = 1};
  options.validate();
  const std::size_t budget = options.budget();
  std::printf("task: Fibonacci mod 10, %zu digits per chain after a 2-digit query; model: 1 causal transformer block, "
              "width %d, %d heads, %d learned positions\n",
              budget, width, heads, context);

  // Training: each sequence is a random prefix of 0..max_prefix digits and a chain from a random pair; the loss is
  // on the digits the rule determines (from the third digit of the chain on).
  tl::store s(train, shape(batch));
  nn::init(s, 2025, emb, blk, lnf, head);
  std::mt19937 gen(17);
  {
    std::normal_distribution<double> w(0.0, 0.05);
    for (std::size_t k = 0; k < s[Pos].span(); ++k) s[Pos].data()[k] = static_cast<float>(w(gen));
  }
  tl::adamw opt(s, params, {.lr = tl::schedule::cosine(3e-3, steps, 20, 3e-4), .weight_decay = 0.01});
  std::uniform_int_distribution<int> digit(0, 9), prefix(0, max_prefix);
  const auto t0 = std::chrono::steady_clock::now();
  double loss = 0;
  for (int step = 0; step < steps; ++step) {
    std::vector<int> in;
    auto& t = s[T];
    for (std::size_t k = 0; k < t.span(); ++k) t.data()[k] = 0;
    int targets = 0;
    for (int a = 0; a < batch; ++a) {
      const int r = prefix(gen), j = r < 2 ? 0 : r;
      std::vector<int> seq;
      for (int k = 0; k < j; ++k) seq.push_back(digit(gen));
      seq.push_back(digit(gen));
      seq.push_back(digit(gen));
      while (static_cast<int>(seq.size()) < context + 1) seq.push_back(next_digit(seq[seq.size() - 2], seq.back()));
      for (int k = 0; k < context; ++k) {
        in.push_back(seq[static_cast<std::size_t>(k)]);
        if (k + 1 >= j + 2) {
          t(a, k, seq[static_cast<std::size_t>(k + 1)]) = 1;
          ++targets;
        }
      }
    }
    nn::one_hot(s, Tok, in);
    tl::bind(s, inv_n, 1.0 / targets);
    tl::eval(train, s);
    tl::clip_grad_norm(s, params, 1.0);
    opt.step(s);
    loss = s[L]();
    if (step % 50 == 0 || step == steps - 1)
      std::printf("step %4d  loss %.4f  (%.1f s)\n", step, loss,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  // The policy: the trained weights read out of the training store by name.
  const auto weights = std::make_shared<const rs::transformer_weights<float>>(rs::read_transformer<float>(s));
  rs::transformer_policy<float> chunked(weights, rs::full_context{query_size + chunk});
  // Full context: the same weights with the position table extended by zero rows to the whole trace.
  auto extended = std::make_shared<rs::transformer_weights<float>>(*weights);
  extended->context = query_size + budget;
  extended->positions.resize(extended->context * extended->width, 0.0f);
  rs::transformer_policy<float> full(std::shared_ptr<const rs::transformer_weights<float>>(extended),
                                     rs::full_context{query_size + budget});

  outcome delethink, longcot;
  std::mt19937 queries(99);
  for (int c = 0; c < chains; ++c) {
    const std::vector<rs::token_id> query{digit(queries), digit(queries)};
    auto a = std::chrono::steady_clock::now();
    const rs::chunked_trace trace = rs::chunked_generate(chunked, query, options);
    delethink.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    score(delethink, query, trace.trace);
    delethink.chunks += trace.chunks();
    a = std::chrono::steady_clock::now();
    const std::vector<rs::token_id> whole = full(query, budget);
    longcot.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    score(longcot, query, whole);
    longcot.chunks += 1;
    if (c < 2) {
      std::string text;
      for (std::size_t k = 0; k < std::min<std::size_t>(40, trace.trace.size()); ++k)
        text += static_cast<char>('0' + trace.trace[k]);
      std::printf("query %d%d -> Delethink trace %s... (%zu chunks; chunk 2 prompt:", query[0], query[1], text.c_str(),
                  trace.chunks());
      if (trace.chunks() > 1)
        for (const rs::token_id t : trace.prompts[1]) std::printf(" %d", t);
      std::printf(")\n");
    }
  }
  delethink.peak_kv = chunked.peak_kv_bytes();
  longcot.peak_kv = full.peak_kv_bytes();

  std::printf("\n%d chains of %zu digits, Delethink C = %zu, m = %zu (keep_head 1), I = %zu\n", chains, budget, chunk,
              carry, cap);
  std::printf("| method | final digit right | chain right throughout | digit accuracy | first wrong digit (mean) | "
              "chunks per chain | peak KV bytes | decode time |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& [name, o] : {std::pair<const char*, outcome>{"Delethink", delethink},
                                std::pair<const char*, outcome>{"full context", longcot}}) {
    std::string first = "none";
    if (!o.first_wrong.empty()) {
      double sum = 0;
      for (const std::size_t k : o.first_wrong) sum += static_cast<double>(k);
      first = std::to_string(static_cast<long>(std::lround(sum / static_cast<double>(o.first_wrong.size()))));
    }
    std::printf("| %s | %d/%d | %d/%d | %.3f | %s | %.1f | %zu | %.2f s |\n", name, o.final_right, chains,
                o.chain_right, chains, static_cast<double>(o.steps_right) / static_cast<double>(o.steps), first.c_str(),
                static_cast<double>(o.chunks) / chains, o.peak_kv, o.seconds);
  }
  const bool ok = delethink.final_right * 10 >= chains * 9;
  std::printf("check: Delethink final digits %d/%d: %s\n", delethink.final_right, chains,
              ok ? "the chunked model carries the chain's state across resets" : "FAILED: fewer than 90% right");
  return ok ? 0 : 1;
}
