#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds the reference documentation of Ferroc's headers with Doxygen, from
# the Doxyfile at the repository root, into build/docs/html (open
# build/docs/html/index.html).
#
#   scripts/docs.sh
#
# Warnings are errors: an undocumented public name or a malformed comment
# fails the build. The warnings are printed, and kept in build/docs/warnings.log.
# Installs Doxygen through scripts/setup.sh when it is missing.
set -euo pipefail

usage() {
  sed -n '4,12s/^# \{0,1\}//p' "$0"
}

case "${1:-}" in
"") ;;
-h | --help)
  usage
  exit 0
  ;;
*)
  echo "docs.sh: unknown option '$1'" >&2
  usage >&2
  exit 2
  ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v doxygen >/dev/null 2>&1; then
  "$root/scripts/setup.sh"
fi
if ! command -v doxygen >/dev/null 2>&1; then
  echo "docs.sh: doxygen not found (scripts/setup.sh installs it on Debian and Ubuntu)" >&2
  exit 1
fi

# WARN_AS_ERROR = FAIL_ON_WARNINGS needs Doxygen 1.9.0 or later.
version="$(doxygen --version)"
version="${version%% *}"
IFS=. read -r major minor _ <<<"$version"
if [ "${major:-0}" -lt 1 ] || { [ "$major" -eq 1 ] && [ "${minor:-0}" -lt 9 ]; }; then
  echo "docs.sh: doxygen $version is too old: 1.9.0 or later is needed" >&2
  exit 1
fi

out=build/docs
log="$out/warnings.log"
# A fresh tree each time, so that no page of a name that is gone stays.
rm -rf "$out/html"
mkdir -p "$out"

status=0
doxygen Doxyfile >"$log" 2>&1 || status=$?

# QUIET = YES: a clean run prints nothing. Whatever it printed is shown, and
# a warning fails the build even where the exit status would not tell.
if [ -s "$log" ]; then
  sed "s|^$root/||" "$log" >&2
fi
if [ "$status" -ne 0 ] || grep -qE '(warning|error):' "$log"; then
  count="$(grep -cE '(warning|error):' "$log" || true)"
  echo "docs.sh: FAILED: doxygen exited with status $status and $count warning(s) (see $log)" >&2
  exit 1
fi
if [ ! -f "$out/html/index.html" ]; then
  echo "docs.sh: FAILED: $out/html/index.html was not written" >&2
  exit 1
fi
echo "docs.sh: $out/html/index.html"
