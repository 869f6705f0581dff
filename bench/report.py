#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR MIT
"""Turn Google Benchmark JSON output of bench/micro.cpp into a compact markdown table.

    python3 bench/report.py micro.json [micro_mimalloc.json ...]

Benchmarks are named "<allocator>/<pair|batch>/<size>" and count one item per allocate +
deallocate pair, so the time per pair is 1e9 / items_per_second nanoseconds. With
--benchmark_repetitions the median aggregate is used; without, the mean of the runs.
Prints one row per size and mode: ns per pair for ferroc, glibc and mimalloc, and the ratios
ferroc/glibc and ferroc/mimalloc (below 1 means ferroc is faster).
"""

import json
import statistics
import sys
from collections import defaultdict

ALLOCATORS = ("ferroc", "glibc", "mimalloc")
MODES = ("pair", "batch")


def load(paths):
    """Returns ({(allocator, mode, size): ns per pair}, {same key: coefficient of variation},
    [context dicts], repetitions)."""
    medians = {}
    cvs = {}
    runs = defaultdict(list)
    contexts = []
    repetitions = 1
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        contexts.append(data.get("context", {}))
        for b in data.get("benchmarks", []):
            name = b.get("run_name", b["name"])
            parts = name.split("/")
            if len(parts) != 3 or "items_per_second" not in b or b.get("error_occurred"):
                continue
            key = (parts[0], parts[1], int(parts[2]))
            ns = 1e9 / b["items_per_second"]
            repetitions = max(repetitions, int(b.get("repetitions", 1)))
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    medians[key] = ns
                elif b.get("aggregate_name") == "cv":
                    cvs[key] = b["items_per_second"]  # a ratio: the same for time per pair
            else:
                runs[key].append(ns)
    result = {key: statistics.mean(values) for key, values in runs.items()}
    result.update(medians)
    return result, cvs, contexts, repetitions


def fmt_ns(value):
    return "-" if value is None else f"{value:.2f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    times, cvs, contexts, repetitions = load(argv[1:])
    if not times:
        print("report.py: no benchmark results found", file=sys.stderr)
        return 1
    sizes = sorted({size for (_, _, size) in times})
    stat = f"median of {repetitions} repetitions" if repetitions > 1 else "single run"
    ctx = contexts[0] if contexts else {}
    print(f"ns per allocate + deallocate pair ({stat}; pair = free at once, "
          f"batch = 1000 allocations then 1000 frees)")
    if ctx:
        print(f"host: {ctx.get('num_cpus', '?')} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz, "
              f"{ctx.get('date', '')}")
    print()
    print("| size | mode | ferroc | glibc | mimalloc | ferroc/glibc | ferroc/mimalloc |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in sizes:
        for mode in MODES:
            fe, gl, mi = (times.get((a, mode, size)) for a in ALLOCATORS)
            if fe is None and gl is None and mi is None:
                continue
            print(f"| {size} B | {mode} | {fmt_ns(fe)} | {fmt_ns(gl)} | {fmt_ns(mi)} | "
                  f"{fmt_ratio(fe, gl)} | {fmt_ratio(fe, mi)} |")
    if cvs:
        spread = []
        for a in ALLOCATORS:
            values = [cv for (alloc, _, _), cv in cvs.items() if alloc == a]
            if values:
                spread.append(f"{a} median {100 * statistics.median(values):.1f} %, "
                              f"max {100 * max(values):.1f} %")
        print()
        print("Spread between repetitions (coefficient of variation): " + "; ".join(spread))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
