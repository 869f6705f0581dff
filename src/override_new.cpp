// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// Every operator new and delete of the drop-in library.

#include "ferroc/override.hpp"
