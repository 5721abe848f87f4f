#pragma once
#include <tspipe/high/b.hpp>
