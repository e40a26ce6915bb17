// Decoding with a KV cache: Delethink (C = 1024, m = 512, keep_head 100) against full-context decoding of the same
// trace length, 2K, 8K, 32K and 64K tokens, with reasoning::transformer_policy on one small random-weight model
// (fp32, 1 pre-norm block, width 64, 2 heads of 32, MLP 256, vocabulary 64, learned positions), greedy, after a
// 16-token query. One iteration per benchmark (a whole trace), timed in process CPU time (the reported "Time"), as
// the decode is single-threaded and a shared machine's wall time counts other processes' turns. Counters:
//   tokens_per_s       trace tokens / time (Delethink's time includes re-prefilling q + carry every chunk);
//   tail_tokens_per_s  the last 1024 trace tokens / their time (time per token late in the trace);
//   peak_kv_bytes      the most keys + values the cache held at once;
//   trace_tokens, chunks, processed_tokens (trace + prompts fed).
// Delethink's cache holds at most q + C tokens whatever the trace length, so its memory and time per token stay
// flat; full context attends over the whole prefix, so both grow with the length.
//
// decode/streaming_rope: the same model with rotary positions (theta 10000) instead of the learned table, decoding
// the whole trace in one context through a StreamingLLM cache (4 sinks + a window of 1020, so at most 1024 rows plus
// the new token): keys cached un-rotated and rotated each step to contiguous positions 0..|K|-1 (shrink mode). Its
// memory is flat too, with no re-prefill, and no position table bounds the length.
//
//   bench_decode [--benchmark_filter=delethink]
#include <benchmark/benchmark.h>

#include <ctime>
#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <tensorlogic/tensorlogic.hpp>
#include <vector>

namespace tl = tensorlogic;
namespace rs = tensorlogic::reasoning;

namespace {
constexpr std::size_t width = 64, heads = 2, hidden = 256, vocab = 64, query_size = 16;
constexpr std::size_t max_trace = 65536, chunk = 1024, carry = 512, tail = 1024;

std::shared_ptr<const rs::transformer_weights<float>> random_model(const bool rotary = false) {
  static const auto learned = [](const bool rope) {
    auto w = std::make_shared<rs::transformer_weights<float>>();
    std::mt19937_64 gen(2025);
    std::normal_distribution<double> nd(0.0, 1.0);
    auto fill = [&](std::size_t count, double spread, double mean = 0.0) {
      std::vector<float> out(count);
      for (float& x : out) x = static_cast<float>(mean + spread * nd(gen));
      return out;
    };
    w->vocab = vocab;
    w->width = width;
    w->heads = heads;
    w->head_dim = width / heads;
    w->hidden = hidden;
    w->context = query_size + max_trace;
    w->embedding = fill(vocab * width, 1.0);
    if (rope)
      w->rope_theta = 10000.0;  // rotary: no position table
    else
      w->positions = fill(w->context * width, 0.1);
    rs::transformer_weights<float>::block b;
    const double s = 1.0 / std::sqrt(static_cast<double>(width));
    b.ln1_g = fill(width, 0.0, 1.0);
    b.ln1_b = fill(width, 0.0);
    b.wq = fill(width * width, s);
    b.wk = fill(width * width, s);
    b.wv = fill(width * width, s);
    b.wo = fill(width * width, s);
    b.bo = fill(width, 0.0);
    b.ln2_g = fill(width, 0.0, 1.0);
    b.ln2_b = fill(width, 0.0);
    b.w1 = fill(hidden * width, s);
    b.b1 = fill(hidden, 0.0);
    b.w2 = fill(width * hidden, 1.0 / std::sqrt(static_cast<double>(hidden)));
    b.b2 = fill(width, 0.0);
    b.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(width / heads)));
    w->blocks.push_back(std::move(b));
    w->lnf_g = fill(width, 0.0, 1.0);
    w->lnf_b = fill(width, 0.0);
    w->head_w = fill(vocab * width, s);
    w->head_b = fill(vocab, 0.0);
    return std::shared_ptr<const rs::transformer_weights<float>>(w);
  };
  static const auto absolute = learned(false), rotated = learned(true);
  return rotary ? rotated : absolute;
}

std::vector<rs::token_id> query() {
  std::vector<rs::token_id> q;
  for (std::size_t k = 0; k < query_size; ++k) q.push_back(static_cast<rs::token_id>((7 * k + 3) % vocab));
  return q;
}

// Seconds of CPU time used by the process.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Decodes like transformer_policy::operator(), timing the trace's last `tail` tokens.
template <class Policy>
struct timed_policy {
  Policy* policy;
  std::size_t trace_length;
  std::size_t emitted = 0, processed = 0;
  double tail_start = 0.0;

  std::vector<rs::token_id> operator()(const std::vector<rs::token_id>& context, std::size_t max_new_tokens) {
    policy->reset();
    std::vector<rs::token_id> out;
    std::span<const float> logits = policy->prefill(context);
    processed += context.size();
    for (;;) {
      if (emitted == trace_length - tail) tail_start = cpu_seconds();
      out.push_back(policy->choose(logits));
      ++emitted;
      if (out.size() == max_new_tokens) break;
      logits = policy->step(out.back());
      ++processed;
    }
    return out;
  }
};
template <class Policy>
timed_policy(Policy*, std::size_t) -> timed_policy<Policy>;  // Clang 14 has no aggregate CTAD

void report(benchmark::State& state, double seconds, double tail_seconds, std::size_t length, std::size_t chunks,
            std::size_t processed, std::size_t peak_bytes) {
  state.SetIterationTime(seconds);
  state.counters["tokens_per_s"] = static_cast<double>(length) / seconds;
  state.counters["tail_tokens_per_s"] = static_cast<double>(tail) / tail_seconds;
  state.counters["peak_kv_bytes"] = static_cast<double>(peak_bytes);
  state.counters["trace_tokens"] = static_cast<double>(length);
  state.counters["chunks"] = static_cast<double>(chunks);
  state.counters["processed_tokens"] = static_cast<double>(processed);
}

void delethink(benchmark::State& state, std::size_t length) {
  // B = C + (I - 1)(C - m) = length.
  const rs::delethink_options options{.chunk_size = chunk, .markovian_size = carry,
                                      .iteration_cap = 1 + (length - chunk) / (chunk - carry), .keep_head = 100};
  rs::transformer_policy<float> policy(random_model(), rs::full_context{query_size + chunk});
  for (auto _ : state) {
    timed_policy timed{&policy, length};
    const double start = cpu_seconds();
    const rs::chunked_trace trace = rs::chunked_generate(timed, query(), options);
    const double end = cpu_seconds();
    if (trace.trace.size() != length) state.SkipWithError("the trace is shorter than its budget");
    report(state, end - start, end - timed.tail_start, trace.trace.size(), trace.chunks(),
           timed.processed, policy.peak_kv_bytes());
  }
}

void streaming_rope(benchmark::State& state, std::size_t length) {
  rs::transformer_policy<float, rs::sink_window> policy(random_model(true), rs::sink_window{4, chunk - 4});
  for (auto _ : state) {
    timed_policy timed{&policy, length};
    const double start = cpu_seconds();
    const std::vector<rs::token_id> trace = timed(query(), length);
    const double end = cpu_seconds();
    report(state, end - start, end - timed.tail_start, trace.size(), 1, timed.processed, policy.peak_kv_bytes());
  }
}

void full_context(benchmark::State& state, std::size_t length) {
  rs::transformer_policy<float> policy(random_model(), rs::full_context{query_size + length});
  for (auto _ : state) {
    timed_policy timed{&policy, length};
    const double start = cpu_seconds();
    const std::vector<rs::token_id> trace = timed(query(), length);
    const double end = cpu_seconds();
    report(state, end - start, end - timed.tail_start, trace.size(), 1, timed.processed,
           policy.peak_kv_bytes());
  }
}
}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  for (const std::size_t length : {2048u, 8192u, 32768u, 65536u}) {
    const std::string tag = std::to_string(length);
    benchmark::RegisterBenchmark(("decode/delethink/" + tag).c_str(),
                                 [length](benchmark::State& st) { delethink(st, length); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kSecond);
    benchmark::RegisterBenchmark(("decode/streaming_rope/" + tag).c_str(),
                                 [length](benchmark::State& st) { streaming_rope(st, length); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kSecond);
    benchmark::RegisterBenchmark(("decode/full_context/" + tag).c_str(),
                                 [length](benchmark::State& st) { full_context(st, length); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kSecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
