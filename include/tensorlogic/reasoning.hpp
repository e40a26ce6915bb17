// Chunked reasoning with bounded state: KV-cache keep policies (sinks, windows, StreamingVLM), contiguous RoPE,
// the Delethink driver and its training hooks, and the compute/memory cost model.
#pragma once
#include <tensorlogic/reasoning/cost.hpp>
#include <tensorlogic/reasoning/delethink.hpp>
#include <tensorlogic/reasoning/kv_policy.hpp>
#include <tensorlogic/reasoning/rope.hpp>
