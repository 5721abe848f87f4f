#pragma once
#include <tspipe/low/a.hpp>
