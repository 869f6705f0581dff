#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The test ferroc.install.docs: runs the build and install steps of the documentation as they
# are written, then builds a consumer against the result in the three documented ways.
#
#   tests/install-consumer/docs_install.sh SOURCE_DIR WORK_DIR [VERSION]
#
# Each step runs a block of the documentation, the fenced block after a line
# "<!-- test: NAME -->", unchanged but for the folder it says to choose:
#
#   1. install (docs/cmake.md), in a copy of the source tree (what a clone holds: the tracked
#      and new files, nothing that git ignores), with its line PREFIX="..." set to
#      WORK_DIR/prefix and HOME set to WORK_DIR/home;
#   2. preload (README.md, docs/drop-in.md), in the same copy, with script.py: the preloaded
#      library must reach a child that starts in another folder (needs python3);
#   3. find-package, add-subdirectory and add-subdirectory-libs (docs/cmake.md): the CMake
#      project of this folder, with each block in turn, builds and runs app (app.cpp) and, with
#      the compiled targets, app_c (app.c): against WORK_DIR/prefix, and with a second copy of
#      the source tree as its ferroc/ subfolder. As a subproject Ferroc must give only
#      ferroc::ferroc and install nothing, unless the block asks for the libraries;
#   4. pkg-config (docs/cmake.md), in the consumer's folder with PREFIX set, and the programs
#      it built (needs pkg-config).
#
# CC, CXX and CMAKE_GENERATOR in the environment choose the compilers and the generator, as for
# any CMake build; CMAKE_BUILD_PARALLEL_LEVEL defaults to 2. VERSION, when given, is the version
# find_package must report.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: docs_install.sh SOURCE_DIR WORK_DIR [VERSION]" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "$1" && pwd)"
work="$2"
version="${3:-}"

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

step() {
  echo
  echo "==== docs_install: $* ===="
}

fail() {
  echo "docs_install: $*" >&2
  exit 1
}

# blocks FILE NAME OUT: writes the fenced block after each line "<!-- test: NAME -->" of FILE
# to OUT.1, OUT.2, ... and prints how many there are.
blocks() {
  awk -v marker="<!-- test: $2 -->" -v out="$3" '
    state == 0 && $0 == marker { state = 1; next }
    state == 1 {
      if ($0 !~ /^```/) {
        printf "%s:%d: %s is not followed by a fenced block\n", FILENAME, FNR, marker > "/dev/stderr"
        bad = 1
        exit 1
      }
      n++
      file = out "." n
      printf "" > file
      state = 2
      next
    }
    state == 2 && /^```[[:space:]]*$/ { close(file); state = 0; next }
    state == 2 { print > file }
    END {
      if (bad) exit 1
      if (state == 2) {
        printf "%s: the block after %s does not end\n", FILENAME, marker > "/dev/stderr"
        exit 1
      }
      print n + 0
    }
  ' "$1"
}

# one_block FILE NAME OUT: the one block NAME of FILE, written to OUT and shown.
one_block() {
  local count
  count="$(blocks "$1" "$2" "$3")"
  [ "$count" -eq 1 ] || fail "${1#"$source_dir"/} has $count blocks marked '<!-- test: $2 -->', expected 1"
  mv "$3.1" "$3"
  echo "-- block '$2' of ${1#"$source_dir"/}:"
  sed 's/^/   | /' "$3"
}

# copy_tree FROM TO: the files a clone of FROM has (tracked and new ones, nothing git ignores,
# so no build folders); without git, everything but the build folders.
copy_tree() {
  local from="$1" to="$2" file
  mkdir -p "$to"
  if command -v git >/dev/null 2>&1 && git -C "$from" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$from" && git ls-files -z --cached --others --exclude-standard) |
      while IFS= read -r -d '' file; do
        if [ -e "$from/$file" ] || [ -L "$from/$file" ]; then
          printf '%s\0' "$file"
        fi
      done | tar -C "$from" --null -T - -cf - | tar -C "$to" -xf -
  else
    tar -C "$from" --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$to" -xf -
  fi
}

# run_block DIR SCRIPT [NAME=VALUE...]: runs SCRIPT with bash in DIR, commands shown, stopping
# at the first that fails; the assignments go into its environment.
run_block() {
  local dir="$1" script="$2"
  shift 2
  (cd "$dir" && env HOME="$work/home" "$@" bash -euxo pipefail "$script")
}

rm -rf "$work"
mkdir -p "$work/home"
prefix="$work/prefix"

# --- 1. install ------------------------------------------------------------------------------

step "install (docs/cmake.md) into $prefix"
copy_tree "$source_dir" "$work/src"
one_block "$source_dir/docs/cmake.md" install "$work/install.sh"
[ "$(grep -c '^PREFIX=' "$work/install.sh")" -eq 1 ] ||
  fail "the install block must set PREFIX=... on one line of its own"
grep -q '"\$PREFIX"' "$work/install.sh" || fail "the install block does not use \"\$PREFIX\""
PREFIX_LINE="$(printf 'PREFIX=%q' "$prefix")" awk \
  '/^PREFIX=/ { print ENVIRON["PREFIX_LINE"]; next } { print }' "$work/install.sh" >"$work/install-run.sh"
run_block "$work/src" "$work/install-run.sh"

for file in include/ferroc/ferroc.hpp include/ferroc.h; do
  [ -f "$prefix/$file" ] || fail "$file was not installed"
done
for file in cmake/ferroc/ferrocConfig.cmake cmake/ferroc/ferrocConfigVersion.cmake \
  pkgconfig/ferroc.pc pkgconfig/ferroc-c.pc libferroc.so libferroc-checked.so libferroc-secure.so libferroc-stats.so \
  libferroc_c.a libferroc_override.a libferroc_separate.a; do
  compgen -G "$prefix/lib*/$file" >/dev/null || fail "lib/$file was not installed"
done
[ ! -e "$work/home/.local" ] || fail "the install went to \$HOME/.local, not to PREFIX"
echo "-- installed: $(cd "$prefix" && find . -type f ! -path './include/ferroc/*' | sort | tr '\n' ' ')"

# --- 2. preload ------------------------------------------------------------------------------

if command -v python3 >/dev/null 2>&1; then
  cp "$here/script.py" "$work/src/script.py"
  for doc in README.md docs/drop-in.md; do
    step "preload ($doc)"
    script="$work/preload-$(basename "$doc" .md).sh"
    one_block "$source_dir/$doc" preload "$script"
    run_block "$work/src" "$script"
  done
else
  step "preload: no python3, the preload blocks are not run"
fi

# --- 3. CMake consumers ----------------------------------------------------------------------

app="$work/app"
mkdir -p "$app"
cp "$here/CMakeLists.txt" "$here/app.cpp" "$here/app.c" "$app/"
copy_tree "$source_dir" "$app/ferroc"

# consumer NAME EXPECT_LIBS [CMAKE_ARGS...]: the consumer with block NAME of docs/cmake.md;
# builds and runs app, and app_c when EXPECT_LIBS is ON.
consumer() {
  local name="$1" expect_libs="$2" program
  shift 2
  step "consumer: $name (docs/cmake.md)"
  one_block "$source_dir/docs/cmake.md" "$name" "$app/$name.cmake"
  local programs=(app)
  if [ "$expect_libs" = ON ]; then
    programs+=(app_c)
  fi
  cmake -S "$app" -B "$work/build-$name" "-DFERROC_SNIPPET=$app/$name.cmake" \
    "-DFERROC_EXPECT_LIBS=$expect_libs" "$@"
  cmake --build "$work/build-$name" --target "${programs[@]}"
  for program in "${programs[@]}"; do
    "$work/build-$name/bin/$program"
  done
}

version_args=()
if [ -n "$version" ]; then
  version_args=("-DFERROC_EXPECTED_VERSION=$version")
fi
consumer find-package ON "-DCMAKE_PREFIX_PATH=$prefix" "${version_args[@]}"
# The package must be the one in PREFIX, not one installed on the system.
found="$(sed -n 's/^ferroc_DIR:[A-Z]*=//p' "$work/build-find-package/CMakeCache.txt")"
case "$(realpath "$found")/" in
"$(realpath "$prefix")"/*) ;;
*) fail "find_package found ferroc in $found, not under $prefix" ;;
esac

consumer add-subdirectory OFF
# A subproject installs nothing unless asked (FERROC_INSTALL).
cmake --install "$work/build-add-subdirectory" --prefix "$work/subproject-prefix"
if [ -e "$work/subproject-prefix" ] && [ -n "$(find "$work/subproject-prefix" -type f)" ]; then
  fail "installing the parent project installed Ferroc: $(find "$work/subproject-prefix" -type f)"
fi

consumer add-subdirectory-libs ON

# --- 4. pkg-config ---------------------------------------------------------------------------

if command -v pkg-config >/dev/null 2>&1; then
  step "pkg-config (docs/cmake.md)"
  one_block "$source_dir/docs/cmake.md" pkg-config "$work/pkg-config.sh"
  run_block "$app" "$work/pkg-config.sh" PREFIX="$prefix"
  "$app/app"
  "$app/app-c"
  for package in ferroc ferroc-c; do
    pcdir="$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib64/pkgconfig" \
      pkg-config --variable=pcfiledir "$package")"
    case "$(realpath "$pcdir")/" in
    "$(realpath "$prefix")"/*) ;;
    *) fail "pkg-config found $package in $pcdir, not under $prefix" ;;
    esac
  done
else
  step "pkg-config: not installed, the pkg-config block is not run"
fi

echo
echo "docs_install: ok"
