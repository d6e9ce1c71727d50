// A header of the second floor that reaches up: the layering check must refuse it.
#pragma once
#include "ir/Graph.h"
#include "support/Up.h"
