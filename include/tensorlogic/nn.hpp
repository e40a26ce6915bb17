// Models written as equations: modules that return program fragments with name-prefixed parameters.
#pragma once
#include <tensorlogic/nn/attention.hpp>
#include <tensorlogic/nn/conv.hpp>
#include <tensorlogic/nn/layers.hpp>
#include <tensorlogic/nn/losses.hpp>
#include <tensorlogic/nn/module.hpp>
#include <tensorlogic/nn/recurrent.hpp>
