#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR MIT
"""Counts the instructions of the fast paths of functions in a library,
read from its disassembly (objdump -d), on any target objdump knows.

The fast path of a function is taken to be its fall-through path: from the
entry, conditional branches are not taken (the compiler lays the likely
path out straight, which Ferroc asks for with [[likely]]/[[unlikely]]),
unconditional jumps inside the function are followed, and the walk ends at
the first return or tail call (counted). For malloc and free this is the
path of a small block from and to the thread's own page, the path that
bench/instr_count.sh measures with callgrind on x86-64; the disassembly
count leaves out the caller's call and the PLT, so it is lower than the
callgrind count, but it is exact, needs no emulator and exists for every
target, so a regression on ARM64 is visible too.

    bench/fast_path_disasm.py [--objdump OBJDUMP] LIBRARY [SYMBOL ...]

Prints one line per symbol (default: malloc free): the symbol, the count
and how the walk ended. Exits non-zero when a symbol is missing.
"""

import argparse
import re
import subprocess
import sys

# One instruction line of objdump -d: "  addr:<TAB>mnemonic operands".
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
# A direct branch target: "... 1234 <symbol+0x10>".
TARGET = re.compile(r"\b([0-9a-f]+)\s+<([^>+]+)(?:\+0x[0-9a-f]+)?>")

# Returns, on x86, ARM64, POWER and RISC-V.
RETURNS = {"ret", "retq", "blr", "jr ra"}
# Unconditional direct jumps.
JUMPS = {"jmp", "jmpq", "b", "j", "tail"}
# Calls: the walk goes on after them (the PIC thunk of i686, for one).
CALLS = {"call", "callq", "bl", "jal", "jalr", "bctrl"}


def disassemble(objdump, library, symbols):
    """Maps each symbol to its instructions [(address, mnemonic, operands)]."""
    out = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", library],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    functions = {}
    current = None
    header = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
    for line in out.splitlines():
        m = header.match(line)
        if m:
            current = m.group(1) if m.group(1) in symbols else None
            if current is not None:
                functions[current] = []
            continue
        if current is None:
            continue
        m = INSN.match(line)
        if m and m.group(2) != "...":
            functions[current].append((int(m.group(1), 16), m.group(2), m.group(3)))
    return functions


def fast_path(name, insns):
    """Walks the fall-through path of function `name`: (count, ending)."""
    at = {addr: i for i, (addr, _, _) in enumerate(insns)}
    i = 0
    count = 0
    seen = set()
    while 0 <= i < len(insns):
        if i in seen:
            return count, "loop"
        seen.add(i)
        _, mnemonic, operands = insns[i]
        count += 1
        whole = f"{mnemonic} {operands}".strip()
        if mnemonic in RETURNS or whole in RETURNS:
            return count, "return"
        if mnemonic in CALLS:
            i += 1
            continue
        target = TARGET.search(operands)
        if mnemonic in JUMPS:
            if target is None:
                return count, "indirect jump"
            if target.group(2) != name:
                return count, f"tail call to {target.group(2)}"
            i = at.get(int(target.group(1), 16), -1)
            continue
        # RISC-V tail calls through a register (auipc t1 + jr t1).
        if mnemonic in ("jr", "br", "bctr"):
            return count, "indirect jump"
        i += 1
    return count, "end of function"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objdump", default="objdump")
    parser.add_argument("library")
    parser.add_argument("symbols", nargs="*", default=["malloc", "free"])
    args = parser.parse_args()
    functions = disassemble(args.objdump, args.library, set(args.symbols))
    status = 0
    for symbol in args.symbols:
        if symbol not in functions:
            print(f"{symbol}: not found in {args.library}", file=sys.stderr)
            status = 1
            continue
        count, ending = fast_path(symbol, functions[symbol])
        print(f"{symbol} {count} ({ending})")
    return status


if __name__ == "__main__":
    sys.exit(main())
