// dsm::Error is part of the public API (include/dsm/dsm.hpp); internal code includes
// this header to throw it.
#pragma once
#include "dsm/dsm.hpp"
