#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Real programs on the drop-in replacement: each runs once as is and once
# with LD_PRELOAD=libferroc.so, and both runs must give byte-identical
# output (and the same exit status).
#
#   python3   builds a 1M-entry dict (PYTHONMALLOC=malloc: every object
#             through malloc), prints checksums
#   sqlite3   inserts 300k rows in one transaction (in memory), indexes,
#             sums and groups them
#   sort      sorts 2M pseudo-random lines (awk, srand(1)), two threads
#   git       git log -p of the source tree, if it is a git checkout
#   gcc       gcc -O2 -c of a generated source file of 2000 functions;
#             the two object files are compared
#
# A program that is not installed (or a source tree that is not a git
# checkout) is reported as SKIP; at least 3 programs must run.
#
# Usage: real_programs.sh <libferroc.so> <source dir> <work dir>

set -u

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <libferroc.so> <source dir> <work dir>" >&2
  exit 2
fi

lib=$1
src=$2
work=$3
per_run_timeout=120 # seconds; a hang fails the program, not the whole test run
min_programs=3

if [[ ! -f $lib ]]; then
  echo "FAIL: no library at $lib"
  exit 1
fi
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")

mkdir -p "$work" || exit 1
cd "$work" || exit 1
export LC_ALL=C

ran=0
failed=0
skipped=0

skip() {
  echo "SKIP: $1: $2"
  skipped=$((skipped + 1))
}

# It must be a malloc replacement...
if command -v nm >/dev/null && ! nm -D --defined-only "$lib" | grep -q -w -e malloc; then
  echo "FAIL: $lib does not define malloc"
  exit 1
fi

# ...and the preload must take effect here, or every comparison below would pass
# without Ferroc.
maps=$(LD_PRELOAD=$lib grep -c -F "$(basename "$lib")" /proc/self/maps 2>preload.err)
if [[ -z $maps || $maps == 0 ]] || grep -q . preload.err; then
  echo "FAIL: LD_PRELOAD=$lib does not load the library:"
  cat preload.err
  exit 1
fi

# compare <name> <shell command writing its result to "$OUT">
#
# Runs the command without and with the preload (the command's shell and
# everything it starts run on Ferroc then) and requires the same exit
# status, nothing from the dynamic loader on stderr, and identical results.
compare() {
  local name=$1
  local cmd=$2
  local start=$SECONDS
  local rc_plain rc_ferroc
  OUT=$name.plain.out timeout "$per_run_timeout" bash -c "$cmd" 2>"$name.plain.err"
  rc_plain=$?
  OUT=$name.ferroc.out LD_PRELOAD=$lib timeout "$per_run_timeout" bash -c "$cmd" \
    2>"$name.ferroc.err"
  rc_ferroc=$?
  ran=$((ran + 1))
  if [[ $rc_plain -ne 0 ]]; then
    echo "FAIL: $name: exits with $rc_plain even without Ferroc:"
    head -n 20 "$name.plain.err"
    failed=$((failed + 1))
  elif [[ $rc_ferroc -ne $rc_plain ]]; then
    echo "FAIL: $name: exits with $rc_ferroc under Ferroc (124: timed out after" \
      "${per_run_timeout} s):"
    head -n 20 "$name.ferroc.err"
    failed=$((failed + 1))
  elif grep -q -e "ld\.so" -e "ERROR: ld" "$name.ferroc.err"; then
    echo "FAIL: $name: the dynamic loader complains under Ferroc:"
    head -n 20 "$name.ferroc.err"
    failed=$((failed + 1))
  elif ! cmp "$name.plain.out" "$name.ferroc.out"; then
    echo "FAIL: $name: output differs under Ferroc (kept in $work)"
    failed=$((failed + 1))
    return
  else
    echo "ok:   $name ($(wc -c <"$name.plain.out") bytes of identical output," \
      "$((SECONDS - start)) s for both runs)"
  fi
  rm -f "$name.plain.out" "$name.ferroc.out"
}

# --- python3 -------------------------------------------------------------
python=/usr/bin/python3
if [[ -x $python ]]; then
  cat >dict.py <<'EOF'
d = {"k%d" % i: str(i * 7919 % 1000003) for i in range(1_000_000)}
h = 0
for k, v in d.items():
    h = (h * 31 + len(k) + int(v)) % (1 << 61)
for i in range(0, 1_000_000, 2):
    del d["k%d" % i]
print(len(d), h, sum(map(len, d.values())))
EOF
  compare python3 "PYTHONMALLOC=malloc PYTHONHASHSEED=0 $python dict.py >\"\$OUT\""
else
  skip python3 "$python not found"
fi

# --- sqlite3 -------------------------------------------------------------
if command -v sqlite3 >/dev/null; then
  cat >rows.sql <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b TEXT NOT NULL);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t(a, b) SELECT (x * 7919) % 100003, printf('row-%d-%x', x, x * 31) FROM c;
COMMIT;
CREATE INDEX t_a ON t(a);
SELECT count(*), sum(id), sum(a), sum(length(b)) FROM t;
SELECT a % 10, count(*), sum(id) FROM t GROUP BY a % 10 ORDER BY 1;
SELECT id, a, b FROM t ORDER BY a DESC, id LIMIT 5;
DELETE FROM t WHERE id % 3 = 0;
SELECT count(*), sum(a) FROM t;
EOF
  compare sqlite3 'sqlite3 <rows.sql >"$OUT"'
else
  skip sqlite3 "not installed"
fi

# --- sort ----------------------------------------------------------------
if command -v sort >/dev/null && command -v awk >/dev/null; then
  awk 'BEGIN { srand(1); for (i = 0; i < 2000000; i++) printf "%d %d\n", int(rand() * 1e9), i }' \
    >sort.in
  compare sort 'sort --parallel=2 -k1,1n -k2,2n sort.in >"$OUT"'
  rm -f sort.in
else
  skip sort "sort or awk not installed"
fi

# --- git -----------------------------------------------------------------
if ! command -v git >/dev/null; then
  skip git "not installed"
elif ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  skip git "$src is not a git checkout (or git refuses it)"
else
  compare git "git -C '$src' --no-pager log -p --no-color --no-ext-diff >\"\$OUT\""
fi

# --- gcc -----------------------------------------------------------------
if command -v gcc >/dev/null; then
  # Two thousand small functions: cc1 allocates for each of them, and keeps
  # its call graph across all of them.
  awk 'BEGIN {
    print "struct pair { long a, b; };"
    print "long helper(long x, struct pair *p);"
    for (i = 0; i < 2000; i++) {
      printf "long f%d(long x, struct pair *p) {\n", i
      printf "  long s = x * %d + p->a;\n", i
      printf "  if (s & 1)\n    s += helper(x / 2, p);\n"
      printf "  else\n    s ^= p->b >> %d;\n", i % 13
      printf "  p->a += s;\n  return s;\n}\n"
    }
  }' >big.c
  compare gcc 'gcc -O2 -frandom-seed=ferroc -c big.c -o "$OUT"'
else
  skip gcc "not installed"
fi

echo "real_programs: $ran ran, $skipped skipped, $failed failed"
if [[ $ran -lt $min_programs ]]; then
  echo "FAIL: only $ran programs ran; at least $min_programs must"
  exit 1
fi
[[ $failed -eq 0 ]]
