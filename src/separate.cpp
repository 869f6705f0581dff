// SPDX-License-Identifier: Apache-2.0 OR MIT
//
// The library `ferroc_separate` (CMake target ferroc::separate): the slow
// paths of the default configuration, compiled once. Built, and used, with
// FERROC_SEPARATE_COMPILATION=1; detail/separate_compilation.hpp declares
// these instantiations in every file of the program, which then leaves
// them to this one.
#include <ferroc/ferroc.hpp>

#if !FERROC_SEPARATE_COMPILATION
#error "ferroc: src/separate.cpp is built with FERROC_SEPARATE_COMPILATION=1"
#endif

namespace ferroc {
inline namespace FERROC_CONFIG_NS {

template class Arenas<OsAlloc>;
template class Context<OsAlloc>;
template class Heap<OsAlloc>;
template class Global<OsAlloc, ThreadExit::os_key, Ferroc>;
template class global_resource<DefaultGlobal>;

} // namespace FERROC_CONFIG_NS
} // namespace ferroc
