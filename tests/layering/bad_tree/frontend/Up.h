// A header of the lowest floor that reaches up: the layering check must refuse it.
#pragma once
#include "ir/Graph.h"
