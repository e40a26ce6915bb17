// Chunked reasoning with bounded state: KV-cache keep policies (sinks, windows, StreamingVLM), contiguous RoPE,
// the Delethink driver and its training hooks, the compute/memory cost model, and a KV-cached transformer
// chunk policy.
#pragma once
#include <tensorlogic/reasoning/cost.hpp>
#include <tensorlogic/reasoning/delethink.hpp>
#include <tensorlogic/reasoning/kv_policy.hpp>
#include <tensorlogic/reasoning/rope.hpp>
#include <tensorlogic/reasoning/transformer_policy.hpp>
