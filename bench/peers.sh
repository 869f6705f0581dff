# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sourced by the bench scripts that preload each allocator into the same
# program: `peer_libs NAME=LIB` fills the associative array `libs` (allocator
# name -> library to preload; glibc: none) for Ferroc's library LIB, as an
# absolute path, and Debian's mimalloc, jemalloc and tcmalloc.

# peer_libs <libferroc.so>
peer_libs() {
  local ferroc multiarch
  ferroc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  multiarch=$(cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  libs=(
    [glibc]=""
    [ferroc]="$ferroc"
    [mimalloc]="/usr/lib/$multiarch/libmimalloc.so.2"
    [jemalloc]="/usr/lib/$multiarch/libjemalloc.so.2"
    [tcmalloc]="/usr/lib/$multiarch/libtcmalloc_minimal.so.4"
  )
}
