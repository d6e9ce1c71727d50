// A header of the lowest floor that reaches up: support/ may include nothing of nnc's.
#pragma once
#include "frontend/Diagnostics.h"
