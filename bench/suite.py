#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR MIT
"""Benchmark suite: runs the workload programs of bench/workloads under every allocator and
writes a CSV of all runs, a Markdown table of medians and bar charts relative to Ferroc.

    python3 bench/suite.py                       # full scale, 2 and 16 threads, 5 repetitions
    python3 bench/suite.py --quick               # scale 1, 2 threads, 1 repetition (smoke test)
    python3 bench/suite.py --sweep 1,2,4,8,16    # also throughput vs threads (larson, xmalloc,
                                                 # mstress, rptest, glibc_thread)
    python3 bench/suite.py --report FILE.csv     # tables and plots again from a CSV, no runs

Allocators: glibc (no preload), ferroc (LD_PRELOAD of <build>/libferroc.so), ferroc-linked
(the <name>_ferroc executables, Ferroc linked in statically), mimalloc, jemalloc and tcmalloc
(LD_PRELOAD of the Debian libraries libmimalloc.so.2, libjemalloc.so.2 and
libtcmalloc_minimal.so.4 in /usr/lib/<multiarch>/). Missing ones are skipped with a note.
More peers come from the environment, each preloaded like the others:
    FERROC_BENCH_PEERS="mimalloc3=/path/libmimalloc.so snmalloc=/path/libsnmallocshim.so"

Workloads: every program of <build>/bench/workloads that is present (larson, cache_scratch,
cache_thrash, xmalloc, mstress, glibc_simple, glibc_thread, alloc_test, rptest, sh6bench,
sh8bench, big_alloc, mem_returned, thread_churn, large_loop). Each is run as
`<program> <threads> <scale>`; its full scale comes from the line `full_scale=<n>` of `<program> --help` (else a table below). Its last
line of output must be
    workload=<name> threads=<t> scale=<s> ops=<n> seconds=<wall> check=ok [key=value ...]
and it must exit with 0; any other outcome, or running longer than --timeout, is a failed run.

Runs are interleaved: repetition 1 runs every workload under every allocator, then
repetition 2, and so on, with the allocator order shuffled per repetition (fixed seed), so
that drift of a busy machine spreads over all allocators. The runner measures the wall time
and the peak RSS (ru_maxrss from wait4) of every run and shows progress on stderr. It starts
each program from a small shell, so that its own RSS is not counted: the kernel charges a
process the RSS of the process it was exec'd from.

Output, in --out (default <build>/bench/results; with --quick <build>/bench/results-quick),
where <machine> is the CPU model and core count (for example amd-epyc-2c) and <date> today
(UTC). The default stays outside the committed report; --out bench/results publishes a run into
it (bench/RESULTS.md reports it, README.md shows its plots). A smoke run (every workload at
scale 1, as --quick runs them) says so in its tables and plot titles, and its file names end in
-smoke.
  <machine>-<date>.csv  one row per run: workload, threads, scale, allocator, rep, seconds
                        (wall time measured by the runner), program_seconds, ops,
                        peak_rss_kib, extra metrics of the program, phase (main or sweep),
                        status (ok, exit=<code>, signal=<name>, timeout, bad-output)
  <machine>-<date>.md   per thread count: median wall time and median peak RSS per workload
                        and allocator, with the ratios to ferroc and to mimalloc, a
                        geometric-mean row and the peers that beat preloaded ferroc
  time.png, memory.png  median wall time and peak RSS relative to ferroc (ferroc = 1), one
                        group of bars per workload, for the first thread count of --threads;
                        time-<t>.png and memory-<t>.png for the others (e.g. time-16.png)
  sweep.png             with --sweep: throughput (ops per second of program time) vs threads
Plots need matplotlib (Debian: python3-matplotlib); without it they are skipped.

The exit status is 1 when a run failed (after all results are written), 2 on usage errors.
"""

import argparse
import csv
import ctypes
import datetime
import functools
import glob
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Workloads in report order, with the full scale used when `<program> --help` does not print
# `full_scale=<n>` (the programs print these).
WORKLOADS = {
    "larson": 150,
    "cache_scratch": 200,
    "cache_thrash": 200,
    "xmalloc": 250,
    "mstress": 150,
    "glibc_simple": 80,
    "glibc_thread": 80,
    "alloc_test": 150,
    "rptest": 100,
    "sh6bench": 100,
    "sh8bench": 40,
    "big_alloc": 60,
    "mem_returned": 32,
    "thread_churn": 50,
    "large_loop": 20,
}
SWEEP_WORKLOADS = ("larson", "xmalloc", "mstress", "rptest", "glibc_thread")

PEER_LIBS = {
    "mimalloc": "libmimalloc.so.2",
    "jemalloc": "libjemalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
}


def extra_peers(text):
    """FERROC_BENCH_PEERS ("name=/absolute/lib.so ..."): peers built from source or newer
    releases, preloaded like the Debian ones."""
    peers = {}
    for spec in text.split():
        name, _, path = spec.partition("=")
        if not name or not os.path.isabs(path) or name in ("glibc", "ferroc", "ferroc-linked"):
            sys.exit(f"suite.py: FERROC_BENCH_PEERS: '{spec}' is not name=/absolute/path/lib.so")
        peers[name] = path
    return peers


EXTRA_PEERS = extra_peers(os.environ.get("FERROC_BENCH_PEERS", ""))
ALLOCATORS = ("glibc", "ferroc", "ferroc-linked", "mimalloc", "jemalloc",
              "tcmalloc") + tuple(n for n in EXTRA_PEERS if n not in PEER_LIBS)
COLORS = {
    "glibc": "#7f7f7f",
    "ferroc": "#d62728",
    "ferroc-linked": "#ff9896",
    "mimalloc": "#1f77b4",
    "jemalloc": "#2ca02c",
    "tcmalloc": "#9467bd",
}
EXTRA_COLORS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22")


def color_of(name, names):
    """The plot colour of allocator `name` among `names` (extra peers take EXTRA_COLORS in turn)."""
    if name in COLORS:
        return COLORS[name]
    others = [n for n in names if n not in COLORS]
    return EXTRA_COLORS[others.index(name) % len(EXTRA_COLORS)]
RATIO_CAP = 4  # plots cut bars above 4 times ferroc (and label them with their value)
LOSS_MARGIN = 0.03  # a peer "beats" ferroc when its median is more than 3 % below ferroc's
SEED = 20260101
FIXED_KEYS = ("workload", "threads", "scale", "ops", "seconds", "check")
# Extra metrics of the programs that the tables leave out (the CSV keeps them): the runner's
# own measurements say the same.
TABLE_SKIPS_EXTRAS = ("ops_per_sec", "rss_peak_kib")
CSV_HEAD = ("workload", "threads", "scale", "allocator", "rep", "seconds", "program_seconds",
            "ops", "peak_rss_kib")
CSV_TAIL = ("phase", "status")


# ---------------------------------------------------------------------------------------------
# Allocators, workloads, machine


@dataclass
class Allocator:
    name: str
    preload: str = ""  # library to preload, "" for none
    suffix: str = ""  # executable name suffix ("_ferroc" for the statically linked variant)


@functools.lru_cache(maxsize=None)
def multiarch_dirs():
    """Library directories where Debian keeps the peers' shared libraries."""
    dirs = []
    for cc in ("cc", "gcc"):
        try:
            arch = subprocess.run([cc, "-print-multiarch"], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if arch:
            dirs.append(f"/usr/lib/{arch}")
            break
    dirs += sorted(glob.glob("/usr/lib/*-linux-gnu*")) + ["/usr/lib"]
    return tuple(dict.fromkeys(dirs))


def find_peer_lib(soname):
    for d in multiarch_dirs():
        path = os.path.join(d, soname)
        if os.path.isfile(path):
            return path
    return ""


def find_allocators(build, wanted, explicit):
    """The allocators of `wanted` that this machine has; notes for the missing ones. A missing
    allocator that was asked for explicitly is an error."""
    found, notes = [], []
    for name in wanted:
        if name == "glibc":
            found.append(Allocator(name))
        elif name == "ferroc-linked":
            found.append(Allocator(name, suffix="_ferroc"))
        else:
            path = (os.path.join(build, "libferroc.so") if name == "ferroc"
                    else EXTRA_PEERS[name] if name in EXTRA_PEERS
                    else find_peer_lib(PEER_LIBS[name]))
            if path and os.path.isfile(path):
                found.append(Allocator(name, preload=os.path.abspath(path)))
            else:
                lib = ("libferroc.so in the build directory" if name == "ferroc"
                       else EXTRA_PEERS.get(name) or PEER_LIBS[name])
                if explicit:
                    sys.exit(f"suite.py: allocator {name}: no {path or lib}")
                notes.append(f"{name} skipped: no {lib}")
    return found, notes


def is_executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_workloads(wdir, wanted, explicit):
    found, notes = [], []
    for name in wanted:
        if is_executable(os.path.join(wdir, name)):
            found.append(name)
        elif explicit:
            sys.exit(f"suite.py: workload {name}: {os.path.join(wdir, name)} not found")
        else:
            notes.append(f"{name} skipped: not built")
    return found, notes


def full_scale(program, name):
    """The scale printed by `<program> --help` as `full_scale=<n>`, else the table's."""
    try:
        proc = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=30)
        match = re.search(r"^\s*full_scale=(\d+)\s*$", proc.stdout + proc.stderr, re.M)
        if match and int(match.group(1)) > 0:
            return int(match.group(1))
    except (OSError, subprocess.SubprocessError):
        pass
    return WORKLOADS.get(name, 1)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Processor") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return os.uname().machine


def machine_slug():
    """CPU model and core count, e.g. 'intel-xeon-8375c-2c' (no host name)."""
    model = cpu_model().lower()
    model = re.sub(r"\((r|tm)\)|\bcpu\b|\bprocessor\b|@.*$|\d+-core|with .* graphics"
                   r"|\b(platinum|gold|silver|bronze)\b", " ", model)
    slug = re.sub(r"[^a-z0-9]+", "-", model).strip("-") or "unknown"
    return f"{slug}-{os.cpu_count() or 1}c"


def machine_lines(build):
    """Markdown bullets that describe this machine and the build."""
    lines = [f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs"]
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(re.search(r"^MemTotal:\s+(\d+)", f.read(), re.M).group(1))
        lines.append(f"- memory: {kib / 1048576:.1f} GiB (MemTotal)")
    except (OSError, AttributeError):
        pass
    osname = os.uname().sysname
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            match = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            osname = match.group(1) if match else osname
    except OSError:
        pass
    lines.append(f"- OS: {osname}, {os.uname().machine}")
    commit = git_describe()
    if commit:
        lines.append(f"- Ferroc: commit {commit}")
    try:
        lines.append("- load average (1, 5, 15 min) before the runs: "
                     + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    except OSError:
        pass
    return lines


def git_describe():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"`{head}`" + (" (with local changes)" if dirty else "") if head else ""


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Run:
    phase: str  # "main" or "sweep"
    workload: str
    threads: int
    scale: int
    allocator: str
    rep: int
    seconds: float = None  # wall time measured by the runner
    program_seconds: float = None  # the program's own `seconds=`
    ops: int = None
    peak_rss_kib: int = None
    extra: dict = field(default_factory=dict)
    status: str = "not run"

    @property
    def ok(self):
        return self.status == "ok"

    def throughput(self):
        secs = self.program_seconds or self.seconds
        return self.ops / secs if self.ok and self.ops and secs else None


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Makes orphaned descendants children of this process (Linux), so that spawn() can start
    programs from a small shell: a process's ru_maxrss counts the RSS of whatever process it was
    exec'd from, and this Python's would hide the peak of small programs."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


SUBREAPER = False  # set by main()


# Starts "$@" in the background with LD_PRELOAD=$1 (unless empty) and exits.
LAUNCHER = 'if [ -n "$1" ]; then export LD_PRELOAD="$1"; fi; shift; "$@" &'


def spawn(argv, preload, timeout):
    """Runs argv with `preload` (a library path or "") preloaded; returns (wait status or None
    on timeout, wall seconds, ru_maxrss KiB, stdout, stderr). The program gets its own process
    group, killed on timeout. As a subreaper, the runner starts it in the background of
    /bin/sh, which exits at once, and waits for the program itself (the wall time includes
    starting the shell, about 1 ms)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if SUBREAPER:
        launch = ["/bin/sh", "-c", LAUNCHER, "sh", preload] + argv
    else:
        launch = argv
        if preload:
            env["LD_PRELOAD"] = preload
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(launch, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            if SUBREAPER:
                proc.wait()  # the shell; the program is now a child of this process
            # Wait without reaping, so that the timer never signals a reused process group.
            info = os.waitid(os.P_PGID, proc.pid, os.WEXITED | os.WNOWAIT)
            wall = time.perf_counter() - start
            timer.cancel()
            _, status, usage = os.wait4(info.si_pid, 0)
        except BaseException:
            timer.cancel()
            kill()
            raise
        if not SUBREAPER:
            proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return (None if timed_out.is_set() else status), wall, usage.ru_maxrss, stdout, stderr


def exit_status(status):
    if status is None:
        return "timeout"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return "signal=" + signal.Signals(sig).name.removeprefix("SIG")
        except ValueError:
            return f"signal={sig}"
    code = os.WEXITSTATUS(status)
    return "ok" if code == 0 else f"exit={code}"


def parse_result(stdout, run):
    """Checks the program's last line of output and fills run's program_seconds, ops and extra.
    Returns "" when it is right, else what is wrong."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("workload="):
        return "no result line (workload=... check=ok) at the end of stdout"
    fields = dict(item.split("=", 1) for item in lines[-1].split() if "=" in item)
    expect = {"workload": run.workload, "threads": str(run.threads), "scale": str(run.scale),
              "check": "ok"}
    for key, value in expect.items():
        if fields.get(key) != value:
            return f"{key}={fields.get(key)} in the result line, expected {value}"
    try:
        run.ops = int(fields["ops"])
        run.program_seconds = float(fields["seconds"])
    except (KeyError, ValueError):
        return "ops=<integer> and seconds=<number> missing from the result line"
    run.extra = {k: v for k, v in fields.items() if k not in FIXED_KEYS}
    return ""


def execute(run, program, alloc, timeout):
    status, wall, maxrss, stdout, stderr = spawn(
        [program, str(run.threads), str(run.scale)], alloc.preload, timeout)
    run.seconds, run.peak_rss_kib = wall, maxrss
    run.status = exit_status(status)
    problem = ""
    if run.ok:
        problem = parse_result(stdout, run)
        if problem:
            run.status = "bad-output"
    if not run.ok:
        tail = (stderr.strip().splitlines() or stdout.strip().splitlines() or ["(no output)"])
        detail = problem or " | ".join(tail[-3:])
        print(f"    {run.status}: {detail}", file=sys.stderr)


def plan_runs(config):
    """All runs in execution order: repetition outermost, allocator order shuffled per
    repetition; the main suite, then the thread sweep, in every repetition."""
    rng = random.Random(SEED)
    runs = []
    names = [a.name for a in config.allocators]
    for rep in range(1, config.reps + 1):
        order = names[:]
        rng.shuffle(order)
        phases = [("main", config.threads, config.workloads),
                  ("sweep", config.sweep, config.sweep_workloads)]
        for phase, counts, workloads in phases:
            for threads in counts:
                for workload in workloads:
                    for alloc in order:
                        if alloc == "ferroc-linked" and workload not in config.linked:
                            continue
                        runs.append(Run(phase, workload, threads, config.scales[workload],
                                        alloc, rep))
    return runs


def hms(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}"


def run_all(runs, config):
    allocs = {a.name: a for a in config.allocators}
    start = time.monotonic()
    for i, run in enumerate(runs, 1):
        alloc = allocs[run.allocator]
        program = os.path.join(config.workload_dir, run.workload + alloc.suffix)
        execute(run, program, alloc, config.timeout)
        elapsed = time.monotonic() - start
        eta = elapsed / i * (len(runs) - i)
        result = (f"{run.seconds:.2f} s {run.peak_rss_kib / 1024:.0f} MiB" if run.ok
                  else f"FAILED ({run.status}, {run.seconds:.2f} s)")
        print(f"[{i}/{len(runs)}] {run.workload} threads={run.threads} {run.allocator} "
              f"rep {run.rep}: {result}  (elapsed {hms(elapsed)}, left ~{hms(eta)})",
              file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# CSV


def write_csv(path, runs):
    extras = sorted({key for run in runs for key in run.extra})
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEAD + tuple(extras) + CSV_TAIL)
        for r in runs:
            if r.status == "not run":
                continue
            writer.writerow([r.workload, r.threads, r.scale, r.allocator, r.rep,
                             fmt_csv(r.seconds, 4), fmt_csv(r.program_seconds, 4),
                             fmt_csv(r.ops), fmt_csv(r.peak_rss_kib)]
                            + [r.extra.get(key, "") for key in extras] + [r.phase, r.status])


def fmt_csv(value, digits=None):
    if value is None:
        return ""
    return f"{value:.{digits}f}" if digits is not None else str(value)


def read_csv(path):
    runs = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            def num(key, kind):
                return kind(row[key]) if row.get(key) else None

            extra = {k: v for k, v in row.items()
                     if k not in CSV_HEAD + CSV_TAIL and v not in ("", None)}
            runs.append(Run(row.get("phase") or "main", row["workload"], int(row["threads"]),
                            int(row["scale"]), row["allocator"], int(row["rep"]),
                            num("seconds", float), num("program_seconds", float),
                            num("ops", int), num("peak_rss_kib", int), extra, row["status"]))
    return runs


# ---------------------------------------------------------------------------------------------
# Statistics


def ordered(names, reference):
    """names in the order of `reference`, unknown ones last."""
    return sorted(set(names), key=lambda n: (reference.index(n) if n in reference else
                                              len(reference), n))


class Results:
    """Medians of the ok runs, keyed by (phase, threads, workload, allocator)."""

    def __init__(self, runs):
        self.runs = runs
        self.groups = {}
        for run in runs:
            key = (run.phase, run.threads, run.workload, run.allocator)
            self.groups.setdefault(key, []).append(run)
        self.allocators = ordered([r.allocator for r in runs], ALLOCATORS)
        self.workloads = ordered([r.workload for r in runs], list(WORKLOADS))

    def threads(self, phase):
        """The thread counts of a phase, in the order they ran."""
        return list(dict.fromkeys(r.threads for r in self.runs if r.phase == phase))

    def workloads_of(self, phase, threads):
        return [w for w in self.workloads if any((phase, threads, w, a) in self.groups
                                                 for a in self.allocators)]

    def median(self, phase, threads, workload, alloc, metric):
        values = [metric(r) for r in self.groups.get((phase, threads, workload, alloc), [])
                  if r.ok and metric(r) is not None]
        return statistics.median(values) if values else None

    def groups_scale(self, phase, threads, workload):
        return ", ".join(str(s) for s in sorted({r.scale for r in self.runs if r.phase == phase
                                                 and r.threads == threads
                                                 and r.workload == workload}))

    def failures(self, phase, threads, workload, alloc):
        runs = self.groups.get((phase, threads, workload, alloc), [])
        return sum(not r.ok for r in runs), len(runs)

    def reps(self):
        return max((r.rep for r in self.runs), default=0)


def wall_seconds(run):
    return run.seconds


def peak_rss_mib(run):
    return run.peak_rss_kib / 1024 if run.peak_rss_kib is not None else None


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def baseline(allocators):
    return next((a for a in ("ferroc", "ferroc-linked", "glibc") if a in allocators),
                allocators[0])


# ---------------------------------------------------------------------------------------------
# Markdown


def fmt_value(value):
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def md_metric_table(res, threads, metric, what):
    """One row per workload, one column per allocator: median (ratio to base, ratio to
    mimalloc); the best median in bold; then a geometric-mean row and the peers that beat
    preloaded ferroc."""
    allocs = res.allocators
    base = baseline(allocs)
    refs = [base] + (["mimalloc"] if "mimalloc" in allocs and base != "mimalloc" else [])
    head = f"| workload | scale | {' | '.join(allocs)} | {base} loses to |"
    lines = [head, "|---|---:|" + "---:|" * len(allocs) + "---|"]
    ratios = {(a, ref): [] for a in allocs for ref in refs}
    for workload in res.workloads_of("main", threads):
        med = {a: res.median("main", threads, workload, a, metric) for a in allocs}
        best = min((v for v in med.values() if v is not None), default=None)
        cells = []
        for a in allocs:
            failed, total = res.failures("main", threads, workload, a)
            if total == 0:
                cells.append("")
                continue
            if med[a] is None:
                cells.append("failed")
                continue
            parts = [fmt_ratio(med[a], med[ref]) for ref in refs]
            for ref in refs:
                if med[ref]:
                    ratios[(a, ref)].append(med[a] / med[ref])
            value = fmt_value(med[a])
            value = f"**{value}**" if med[a] == best and len(allocs) > 1 else value
            cell = f"{value} ({', '.join(parts)})"
            cells.append(cell + (f" [{failed}/{total} failed]" if failed else ""))
        losses = losses_of(base, {a: med[a] for a in allocs})
        scale = res.groups_scale("main", threads, workload)
        lines.append(f"| {workload} | {scale} | {' | '.join(cells)} | {losses} |")
    means = {key: geomean(values) for key, values in ratios.items()}
    cells = [f"({', '.join(fmt_value(means[(a, ref)]) for ref in refs)})" for a in allocs]
    losses = losses_of(base, {a: means[(a, base)] for a in allocs})
    lines.append(f"| geometric mean | | {' | '.join(cells)} | {losses} |")
    caption = (f"{what}, median per workload and allocator; in parentheses the ratio to "
               f"{' and to '.join(refs)} (below 1: less). Lower is better; the best median is "
               f"in bold. The last column lists the peers whose median is more than "
               f"{LOSS_MARGIN:.0%} below {base}'s, with their ratio to {base}.")
    return [caption, ""] + lines


def losses_of(base, medians):
    """Peers more than LOSS_MARGIN below base, as 'name ratio'."""
    ref = medians.get(base)
    if not ref or base not in ("ferroc", "ferroc-linked"):
        return ""
    beaten = [(v / ref, a) for a, v in medians.items()
              if a not in ("ferroc", "ferroc-linked") and v is not None
              and v < ref * (1 - LOSS_MARGIN)]
    return ", ".join(f"{a} {r:.2f}" for r, a in sorted(beaten))


def md_extras_table(res, threads):
    """Medians of the programs' extra key=value metrics (e.g. rss_after_kib)."""
    lines = []
    for workload in res.workloads_of("main", threads):
        keys = sorted({k for a in res.allocators
                       for r in res.groups.get(("main", threads, workload, a), [])
                       for k in r.extra if k not in TABLE_SKIPS_EXTRAS})
        for key in keys:
            def metric(run, key=key):
                try:
                    return float(run.extra[key])
                except (KeyError, ValueError):
                    return None
            cells = [fmt_value(res.median("main", threads, workload, a, metric))
                     for a in res.allocators]
            lines.append(f"| {workload} | {key} | {' | '.join(cells)} |")
    if not lines:
        return []
    head = ["Other metrics reported by the programs (median):", "",
            f"| workload | metric | {' | '.join(res.allocators)} |",
            "|---|---|" + "---:|" * len(res.allocators)]
    return head + lines


def md_sweep(res):
    counts = sorted(res.threads("sweep"))
    if not counts:
        return []
    lines = ["### Thread sweep: throughput", "",
             "Million operations per second of program time (median; higher is better).", ""]
    for workload in res.workloads:
        if not any(("sweep", t, workload, a) in res.groups
                   for t in counts for a in res.allocators):
            continue
        lines += [f"{workload}:", "", f"| threads | {' | '.join(res.allocators)} |",
                  "|---:|" + "---:|" * len(res.allocators)]
        for t in counts:
            cells = []
            for a in res.allocators:
                value = res.median("sweep", t, workload, a, Run.throughput)
                failed, total = res.failures("sweep", t, workload, a)
                cells.append("" if total == 0 else
                             "failed" if value is None else fmt_value(value / 1e6))
            lines.append(f"| {t} | {' | '.join(cells)} |")
        lines.append("")
    return lines


def md_failures(res):
    """Failed runs, grouped: one line per workload, threads, allocator and outcome."""
    groups = {}
    for r in res.runs:
        if not r.ok:
            key = (r.phase, r.workload, r.threads, r.scale, r.allocator, r.status)
            groups.setdefault(key, []).append(r.rep)
    if not groups:
        return []
    lines = ["### Failed runs", ""]
    for (phase, workload, threads, scale, alloc, status), reps in groups.items():
        where = "" if phase == "main" else f" ({phase})"
        lines.append(f"- {workload} threads={threads} scale={scale}{where}, {alloc}: {status} "
                     f"in repetition {', '.join(map(str, reps))}")
    return lines + [""]


def reps_text(reps):
    return "1 repetition" if reps == 1 else f"median of {reps} repetitions"


def smoke_label(runs):
    """The warning that the results of a smoke run carry (every workload of the main suite at
    scale 1, as --quick runs them), or None."""
    main = [r for r in runs if r.phase == "main"]
    if not main or any(r.scale != 1 for r in main):
        return None
    reps = max(r.rep for r in main)
    how = "--quick: scale 1, 1 repetition" if reps == 1 else f"scale 1, {reps} repetitions"
    return f"SMOKE RUN ({how}) — not a measurement"


def markdown(res, machine, header_lines, notes):
    smoke = smoke_label(res.runs)
    mark = " (smoke run)" if smoke else ""
    lines = ["## Benchmark suite" + (f": {smoke}" if smoke else ""), ""]
    if smoke:
        lines += [f"**{smoke}.** Every workload ran at scale 1, a small fraction of its full "
                  "scale: the figures show that the programs run under each allocator, not how "
                  "fast they are.", ""]
    lines += [f"Machine `{machine}`, {reps_text(res.reps())}; produced by `bench/suite.py`.",
              ""]
    lines += header_lines + ([""] if header_lines else [])
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    for threads in res.threads("main"):
        lines += [f"### {threads} threads: wall time{mark}", ""]
        lines += md_metric_table(res, threads, wall_seconds, "Wall time in seconds") + [""]
        lines += [f"### {threads} threads: peak RSS{mark}", ""]
        lines += md_metric_table(res, threads, peak_rss_mib, "Peak RSS in MiB") + [""]
        extras = md_extras_table(res, threads)
        lines += extras + ([""] if extras else [])
    lines += md_sweep(res)
    lines += md_failures(res)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Plots


def load_pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def plot_relative(plt, res, threads, metric, path, what, machine):
    """Bars: one group per workload (and the geometric mean), one bar per allocator, the median
    relative to the baseline allocator (ferroc), on a linear axis from 0 cut at RATIO_CAP; a
    cut bar carries its value."""
    allocs = res.allocators
    base = baseline(allocs)
    groups = res.workloads_of("main", threads)
    rel = {}
    for workload in groups:
        ref = res.median("main", threads, workload, base, metric)
        for a in allocs:
            value = res.median("main", threads, workload, a, metric)
            rel[(workload, a)] = value / ref if value is not None and ref else None
    for a in allocs:
        rel[("geomean", a)] = geomean([rel[(w, a)] for w in groups])
    labels = groups + ["geomean"]
    top = min(RATIO_CAP, max([v for v in rel.values() if v] + [1]) * 1.08)
    width = 0.8 / len(allocs)
    fig, ax = plt.subplots(figsize=(12, 5), dpi=100)
    for j, a in enumerate(allocs):
        xs, ys = [], []
        for i, label in enumerate(labels):
            x = i + (j - (len(allocs) - 1) / 2) * width
            value = rel[(label, a)]
            if value is not None:
                xs.append(x)
                ys.append(min(value, top))
                if value > top:
                    ax.text(x, 0.98 * top, f"{value:.1f}×", rotation=90, ha="center", va="top",
                            fontsize=8, bbox={"facecolor": "white", "edgecolor": "none",
                                              "pad": 1, "alpha": 0.8})
            elif label != "geomean" and res.failures("main", threads, label, a)[1]:
                ax.text(x, 0.02 * top, "failed", rotation=90, ha="center", va="bottom",
                        fontsize=7, color=color_of(a, allocs))
        ax.bar(xs, ys, width, label=a, color=color_of(a, allocs), edgecolor="white",
               linewidth=0.4)
    ax.set_ylim(0, top)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}×")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.axvline(len(groups) - 0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.grid(axis="y", linestyle=":", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=25, ha="right")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylabel(f"{what} relative to {base}\n(lower is better)")
    title = (f"{what[0].upper() + what[1:]} relative to {base} ({base} = 1×), "
             f"{threads} threads, {reps_text(res.reps())}; {machine}")
    smoke = smoke_label(res.runs)
    if smoke:
        title = f"{smoke}\n{title}"
    ax.set_title(title, fontsize=11, pad=28, color="firebrick" if smoke else "black")
    ax.legend(ncol=len(allocs), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False,
              fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_sweep(plt, res, path, machine):
    """One panel per workload: throughput (million ops/s) vs threads, one line per allocator."""
    counts = sorted(res.threads("sweep"))
    workloads = [w for w in res.workloads
                 if any(res.median("sweep", t, w, a, Run.throughput) is not None
                        for t in counts for a in res.allocators)]
    if not workloads:
        return False
    cols = min(3, len(workloads))
    rows = math.ceil(len(workloads) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.4 * rows + 0.8), dpi=100, squeeze=False)
    for ax, workload in zip(axes.flat, workloads):
        for a in res.allocators:
            points = [(t, res.median("sweep", t, workload, a, Run.throughput)) for t in counts]
            points = [(t, v / 1e6) for t, v in points if v is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=4, label=a,
                        color=color_of(a, res.allocators))
        ax.set_xscale("log", base=2)
        ax.set_xticks(counts)
        ax.set_xticklabels([str(t) for t in counts])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.grid(linestyle=":", linewidth=0.6)
        ax.set_title(workload, fontsize=10)
        ax.set_xlabel("threads")
        ax.set_ylabel("million ops/s")
    for ax in list(axes.flat)[len(workloads):]:
        ax.set_visible(False)
    title = f"Throughput vs threads (higher is better), {reps_text(res.reps())}; {machine}"
    smoke = smoke_label(res.runs)
    if smoke:
        title = f"{smoke}\n{title}"
    head = 0.7 if smoke else 0.5  # inches above the panels: the title's lines and the legend
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(labels), loc="upper center",
               bbox_to_anchor=(0.5, 1 - (head - 0.15) / fig.get_figheight()), frameon=False,
               fontsize=9)
    fig.suptitle(title, fontsize=11, color="firebrick" if smoke else "black")
    fig.tight_layout(rect=(0, 0, 1, 1 - head / fig.get_figheight()))
    fig.savefig(path)
    plt.close(fig)
    return True


def write_plots(res, out, machine, csv_path):
    plt = load_pyplot()
    if plt is None:
        print(f"suite.py: matplotlib is not available to {sys.executable}: no plots. Make them "
              f"later with a python3 that has it (Debian: python3-matplotlib): python3 "
              f"bench/suite.py --report {csv_path}", file=sys.stderr)
        return []
    written = []
    for i, threads in enumerate(res.threads("main")):
        suffix = "" if i == 0 else f"-{threads}"
        for name, metric, what in (("time", wall_seconds, "wall time"),
                                   ("memory", peak_rss_mib, "peak RSS")):
            path = os.path.join(out, f"{name}{suffix}.png")
            plot_relative(plt, res, threads, metric, path, what, machine)
            written.append(path)
    if res.threads("sweep"):
        path = os.path.join(out, "sweep.png")
        if plot_sweep(plt, res, path, machine):
            written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# Command line


def int_list(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return list(dict.fromkeys(values))


def name_list(choices):
    def parse(text):
        names = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [n for n in names if choices is not None and n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(unknown) or '(empty)'}; choose from {', '.join(choices)}")
        return list(dict.fromkeys(names))
    return parse


def scale_arg(text):
    if text in ("full", "quick") or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError("full, quick or a positive integer")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="suite.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build", "release"),
                   help="build directory with libferroc.so and bench/workloads "
                        "(default build/release)")
    p.add_argument("--reps", type=int, help="repetitions per run (default 5; 1 with --quick)")
    p.add_argument("--threads", type=int_list,
                   help="thread counts of the suite (default 2,16; 2 with --quick)")
    p.add_argument("--scale", type=scale_arg,
                   help="full (default), quick (= 1, and 1 repetition) or a number for all")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: --scale quick --reps 1 --threads 2")
    p.add_argument("--workloads", type=name_list(None),
                   help="comma-separated workloads (default: all that are built)")
    p.add_argument("--allocators", type=name_list(ALLOCATORS),
                   help=f"comma-separated allocators (default: {','.join(ALLOCATORS)})")
    p.add_argument("--sweep", type=int_list, default=[],
                   help="thread counts of the sweep, e.g. 1,2,4,8,16 (default: no sweep)")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds before a run is killed and counted as failed (default 300)")
    p.add_argument("--out", help="output directory (default <build>/bench/results; with --quick "
                                 "<build>/bench/results-quick; with --report the CSV's); "
                                 "--out bench/results publishes a run into the committed "
                                 "report")
    p.add_argument("--machine", help="machine name in file names (default: CPU model and "
                                     "core count, e.g. amd-epyc-2c)")
    p.add_argument("--append-table", metavar="FILE",
                   help="also append the Markdown tables to FILE")
    p.add_argument("--list", action="store_true", help="print the planned runs and exit")
    p.add_argument("--report", metavar="CSV",
                   help="no runs: write the tables and plots of an existing CSV")
    args = p.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be at least 1")
    if args.timeout <= 0:
        p.error("--timeout must be positive")
    if args.quick:
        args.scale = args.scale or "quick"
    quick = args.scale == "quick"
    args.reps = args.reps or (1 if quick else 5)
    args.threads = args.threads or ([2] if args.quick else [2, 16])
    args.scale = args.scale or "full"
    args.default_out = os.path.join(args.build, "bench", "results-quick" if quick else "results")
    return args


@dataclass
class Config:
    allocators: list
    workloads: list
    sweep_workloads: list
    linked: set  # workloads that have a <name>_ferroc executable
    scales: dict
    workload_dir: str
    threads: list
    sweep: list
    reps: int
    timeout: float


def configure(args):
    """Finds allocators and workloads; returns (Config, notes)."""
    workload_dir = os.path.join(args.build, "bench", "workloads")
    if not os.path.isdir(workload_dir):
        sys.exit(f"suite.py: {workload_dir} does not exist: build with -DFERROC_BUILD_BENCH=ON "
                 f"(scripts/bench.sh does)")
    allocators, notes = find_allocators(args.build, args.allocators or ALLOCATORS,
                                        args.allocators is not None)
    workloads, more = find_workloads(workload_dir, args.workloads or list(WORKLOADS),
                                     args.workloads is not None)
    notes += more
    if not workloads:
        sys.exit(f"suite.py: no workload programs in {workload_dir}")
    if not allocators:
        sys.exit("suite.py: no allocator to run")
    linked = {w for w in workloads if is_executable(os.path.join(workload_dir, w + "_ferroc"))}
    if any(a.name == "ferroc-linked" for a in allocators):
        notes += [f"ferroc-linked skipped for {w}: no {w}_ferroc" for w in workloads
                  if w not in linked]
    sweep_workloads = [w for w in SWEEP_WORKLOADS if w in workloads] if args.sweep else []
    if args.sweep and not sweep_workloads:
        notes.append("no sweep: none of " + ", ".join(SWEEP_WORKLOADS) + " is selected")
    scales = {}
    for w in workloads:
        if args.scale == "full":
            scales[w] = full_scale(os.path.join(workload_dir, w), w)
        else:
            scales[w] = 1 if args.scale == "quick" else int(args.scale)
    return Config(allocators, workloads, sweep_workloads, linked, scales, workload_dir,
                  args.threads, args.sweep if sweep_workloads else [], args.reps,
                  args.timeout), notes


def write_outputs(res, out, stem, machine, header, notes, append_to, csv_path):
    """Writes <stem>.md and the plots; returns (Markdown text, files written)."""
    md = markdown(res, machine, header, notes)
    md_path = os.path.join(out, stem + ".md")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(md)
    if append_to:
        with open(append_to, "a", encoding="utf-8") as f:
            f.write(md + "\n")
    written = [md_path] + write_plots(res, out, machine, csv_path)
    return md, written


def previous_header(md_path):
    """The machine bullets and notes of an earlier Markdown file of the same runs."""
    try:
        with open(md_path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    head = text.split("\n### ", 1)[0]
    return [line for line in head.splitlines() if line.startswith("- ")]


def report_only(args):
    runs = read_csv(args.report)
    if not runs:
        sys.exit(f"suite.py: no runs in {args.report}")
    stem = os.path.splitext(os.path.basename(args.report))[0]
    machine = args.machine or re.sub(r"-\d{4}-\d{2}-\d{2}(-smoke)?$", "", stem)
    out = args.out or os.path.dirname(os.path.abspath(args.report))
    os.makedirs(out, exist_ok=True)
    res = Results(runs)
    header = previous_header(os.path.join(out, stem + ".md"))
    md, written = write_outputs(res, out, stem, machine, header, [], args.append_table,
                                 args.report)
    print(md)
    print("written: " + ", ".join(written), file=sys.stderr)
    return 0 if all(r.ok for r in runs) else 1


def interrupt(signum, frame):
    """SIGTERM ends the runner like Ctrl-C: the running program is killed, the CSV written."""
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    if args.report:
        return report_only(args)
    args.build = os.path.abspath(args.build)
    args.out = args.out or args.default_out
    global SUBREAPER
    SUBREAPER = become_subreaper()
    if not SUBREAPER:
        print("suite.py: cannot become a subreaper: peak RSS includes the runner's own",
              file=sys.stderr)
    config, notes = configure(args)
    for note in notes:
        print(f"suite.py: {note}", file=sys.stderr)
    runs = plan_runs(config)
    if args.list:
        for run in runs:
            print(f"{run.phase} rep {run.rep}: {run.workload} {run.threads} {run.scale} "
                  f"{run.allocator}")
        return 0
    machine = args.machine or machine_slug()
    stem = f"{machine}-{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}"
    if smoke_label(runs):
        stem += "-smoke"
    os.makedirs(args.out, exist_ok=True)
    header = machine_lines(args.build)
    header.append("- allocators: " + ", ".join(
        f"{a.name} ({os.path.basename(a.preload)})" if a.preload else a.name
        for a in config.allocators))
    print(f"suite.py: {len(runs)} runs: {len(config.workloads)} workloads, "
          f"{len(config.allocators)} allocators, threads {config.threads}"
          + (f", sweep {config.sweep}" if config.sweep else "")
          + f", {config.reps} repetition(s); results in {args.out}", file=sys.stderr)
    csv_path = os.path.join(args.out, stem + ".csv")
    signal.signal(signal.SIGTERM, interrupt)
    try:
        run_all(runs, config)
    except KeyboardInterrupt:
        write_csv(csv_path, runs)
        print(f"suite.py: interrupted; the finished runs are in {csv_path}", file=sys.stderr)
        return 130
    write_csv(csv_path, runs)
    res = Results([r for r in runs if r.status != "not run"])
    md, written = write_outputs(res, args.out, stem, machine, header, notes,
                                 args.append_table, csv_path)
    print(md)
    print("written: " + ", ".join([csv_path] + written), file=sys.stderr)
    if smoke_label(runs):
        print(f"suite.py: {smoke_label(runs)}", file=sys.stderr)
    failed = [r for r in runs if not r.ok]
    if failed:
        print(f"suite.py: {len(failed)} of {len(runs)} runs failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
