# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sourced by the bench scripts that preload each allocator into the same
# program: `peer_libs LIB` fills the associative array `libs` (allocator
# name -> library to preload; glibc: none) for Ferroc's library LIB, as an
# absolute path, and Debian's mimalloc, jemalloc and tcmalloc, and the array
# `peer_names` with the order in which the scripts run and show them.
#
# More peers (an allocator built from its sources, a newer release) come from
# the environment: FERROC_BENCH_PEERS="mimalloc3=/path/libmimalloc.so
# snmalloc=/path/libsnmallocshim.so" adds them after the Debian peers.

# peer_libs <libferroc.so>
peer_libs() {
  local ferroc multiarch spec
  ferroc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  multiarch=$(cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  libs=(
    [glibc]=""
    [ferroc]="$ferroc"
    [mimalloc]="/usr/lib/$multiarch/libmimalloc.so.2"
    [jemalloc]="/usr/lib/$multiarch/libjemalloc.so.2"
    [tcmalloc]="/usr/lib/$multiarch/libtcmalloc_minimal.so.4"
  )
  peer_names=(ferroc mimalloc jemalloc tcmalloc glibc)
  for spec in ${FERROC_BENCH_PEERS:-}; do
    if [[ $spec != ?*=/* ]]; then
      echo "FERROC_BENCH_PEERS: '$spec' is not name=/absolute/path/lib.so" >&2
      return 2
    fi
    libs[${spec%%=*}]=${spec#*=}
    peer_names+=("${spec%%=*}")
  done
}
