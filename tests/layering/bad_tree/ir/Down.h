// Allowed: ir/ may use frontend/.
#pragma once
#include "frontend/Up.h"
