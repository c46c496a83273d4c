// Everything of the runtime in one include.
#pragma once

#include "bocker/runtime/cancel.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/loop.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/process.hpp"
#include "bocker/runtime/scope.hpp"
#include "bocker/runtime/task.hpp"
#include "bocker/runtime/event.hpp"
