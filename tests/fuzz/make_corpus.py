#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Writes the seed corpus of the fuzz target fuzz_heap (tests/fuzz/corpus/):
# small inputs that together use every operation of the input format that
# fuzz_heap.cpp documents at its top (this script mirrors that format). The
# output is deterministic; rerun it after changing the format:
#
#   python3 tests/fuzz/make_corpus.py [output directory]
#
# Files already in the directory that this script did not write are kept
# (e.g. inputs libFuzzer found); the seeds are rewritten.

import os
import random
import sys

KIB = 1 << 10
MIB = 1 << 20

# Opcodes (the byte is taken modulo 16).
ALLOC, ALLOC_ZEROED, ALLOC_ALIGNED, ALLOC_AT_LEAST = 0, 2, 3, 4
FREE, REALLOC, USABLE, COLLECT = 5, 7, 8, 9
HEAP_RESET, HEAP_MOVE, BURST, FREE_BURST = 10, 11, 12, 13
TRY_FAST, CHECK_ALL = 14, 15

# How to free (operand v, low two bits).
VIA_OWNER, VIA_HEAP, VIA_ARENAS, VIA_HEAP_NONNULL = 0, 1, 2, 3


def class_size(index):
    """ferroc::detail::class_size: 16-byte steps to 128, then 4 per power of two."""
    if index <= 8:
        return index * 16
    i = index - 9
    b = 7 + i // 4
    return (1 << b) + ((i % 4 + 1) << (b - 2))


def size_class_of(size):
    if size <= 128:
        return 1 if size == 0 else (size + 15) // 16
    w = size - 1
    b = w.bit_length() - 1
    return 9 + (b - 7) * 4 + ((w >> (b - 2)) & 3)


CLASS_COUNT = size_class_of(2 * MIB) + 1


def decode_size(sel, v):
    """Mirror of decode_size() in fuzz_heap.cpp."""
    if sel < 64:
        return v % 129
    if sel < 144:
        return v % 1025
    if sel < 192:
        return 1025 + v % 7168
    if sel < 224:
        return 8193 + v % 57344
    if sel < 240:
        return 65537 + (v * 31 + sel) % (2 * MIB - 64 * KIB)
    if sel < 252:
        c = 1 + v % (CLASS_COUNT - 1)
        return class_size(c) + sel % 3 - 1
    return 2 * MIB + 1 + (v * 97 + sel) % (6 * MIB)


_SIZE_CACHE = {}


def size(n):
    """The three size bytes (selector, value) that decode to n, or to the
    nearest size above n that the format can express."""
    if n in _SIZE_CACHE:
        return _SIZE_CACHE[n]
    if n <= 128:
        enc = (0, n)
    elif n <= 1024:
        enc = (64, n)
    elif n <= 8192:
        enc = (144, n - 1025)
    elif n <= 65536:
        enc = (192, n - 8193)
    else:
        enc = None
        for m in range(n, n + 256):
            if m <= 2 * MIB:
                t = m - 65537
                for sel in range(224, 240):
                    if t >= sel and (t - sel) % 31 == 0 and (t - sel) // 31 < 65536:
                        enc = (sel, (t - sel) // 31)
                        break
            else:
                t = m - 2 * MIB - 1
                for sel in range(252, 256):
                    if t >= sel and (t - sel) % 97 == 0 and (t - sel) // 97 < 65536:
                        enc = (sel, (t - sel) // 97)
                        break
            if enc is not None:
                break
        assert enc is not None, n
    sel, v = enc
    out = bytes([sel, v & 0xFF, v >> 8])
    _SIZE_CACHE[n] = out
    return out


def boundary(class_index, delta):
    """Size bytes for class_size(class_index) + delta (delta in -1, 0, 1)."""
    sel = 240 + (delta + 1)  # sel % 3 - 1 == delta for 240, 241, 242
    v = class_index - 1
    assert decode_size(sel, v) == class_size(class_index) + delta
    return bytes([sel, v & 0xFF, v >> 8])


def u16(x):
    return bytes([x & 0xFF, (x >> 8) & 0xFF])


class Program:
    """Builds one input: a configuration byte and a list of operations."""

    def __init__(self, heaps=1, static=False):
        assert 1 <= heaps <= 4
        self.out = bytearray([(heaps - 1) | (4 if static else 0)])

    def alloc(self, n, h=0):
        self.out += bytes([ALLOC, h]) + size(n)

    def alloc_zeroed(self, n, h=0):
        self.out += bytes([ALLOC_ZEROED, h]) + size(n)

    def alloc_aligned(self, n, log2_align, h=0, zero=False, not_pow2=False):
        a = log2_align | (0x20 if zero else 0) | (0x40 if not_pow2 else 0)
        self.out += bytes([ALLOC_ALIGNED, h]) + size(n) + bytes([a])

    def impossible(self, which, value=0, h=0, zero=False):
        """A request that must fail: which 0 = size near SIZE_MAX, 1 = past
        2^62, 2 = alignment 2^41 and up, 3 = reallocate live block `value`
        to near SIZE_MAX."""
        a = which | (0x20 if zero else 0) | 0xC0
        self.out += bytes([ALLOC_ALIGNED, h, 0]) + u16(value) + bytes([a])

    def alloc_at_least(self, n, h=0):
        self.out += bytes([ALLOC_AT_LEAST, h]) + size(n)

    def free(self, index=0, via=VIA_OWNER, heap=0):
        self.out += bytes([FREE]) + u16(index) + bytes([via | (heap << 2)])

    def realloc(self, index, n, h=0, from_null=False):
        self.out += bytes([REALLOC]) + u16(index) + bytes([h | (0x40 if from_null else 0)]) + size(n)

    def usable(self, index):
        self.out += bytes([USABLE]) + u16(index)

    def collect(self, h=0, force=False):
        self.out += bytes([COLLECT, h | (0x80 if force else 0)])

    def heap_reset(self, h=0, new_context=False):
        self.out += bytes([HEAP_RESET, h | (0x80 if new_context else 0)])

    def heap_move(self, h=0, index=0, assign=False):
        self.out += bytes([HEAP_MOVE, h | (0x80 if assign else 0)]) + u16(index)

    def burst(self, n, count, h=0, zero=False, rotate=False):
        assert 1 <= count <= 64
        c = (count - 1) | (0x40 if zero else 0) | (0x80 if rotate else 0)
        self.out += bytes([BURST, h]) + size(n) + bytes([c])

    def free_burst(self, index, count, via=VIA_OWNER, heap=0):
        assert 1 <= count <= 64
        self.out += bytes([FREE_BURST]) + u16(index) + bytes([count - 1, via | (heap << 2)])

    def try_fast(self, n, h=0):
        assert n % 4 == 0 and n <= 1020
        self.out += bytes([TRY_FAST, h, n // 4])

    def check_all(self):
        self.out += bytes([CHECK_ALL])

    def data(self):
        return bytes(self.out)


def seeds():
    # Every size range, freed in another order than allocated.
    p = Program()
    for n in (0, 1, 16, 17, 128, 129, 500, 1024, 1025, 4000, 8192, 8193, 30000, 65536, 65537,
              300 * KIB, 2 * MIB):
        p.alloc(n)
    p.check_all()
    for i in (3, 0, 7, 1, 12, 2, 5):
        p.free(i)
    p.collect()
    yield "alloc-free-sizes", p.data()

    # Zeroed memory, also on memory that held a pattern before.
    p = Program()
    for n in (0, 24, 1000, 5000, 40000, 200 * KIB, 3 * MIB):
        p.alloc(n)
    p.free_burst(0, 7)
    for n in (0, 24, 1000, 5000, 40000, 200 * KIB, 3 * MIB):
        p.alloc_zeroed(n)
    p.burst(48, 40, zero=True)
    yield "zeroed-reuse", p.data()

    # Every alignment up to 8 MiB, small and large blocks, zeroed too.
    p = Program()
    for k in range(24):
        p.alloc_aligned(24, k)
        p.alloc_aligned(70000 if k < 20 else 100, k, zero=(k % 2 == 1))
    p.free_burst(5, 20, via=VIA_ARENAS)
    p.free_burst(0, 28)
    yield "aligned-all", p.data()

    # Alignments that are not powers of two, below and above the default.
    p = Program()
    for k in (0, 1, 2, 3, 5, 10, 19):
        p.alloc_aligned(64, k, not_pow2=True)
        p.alloc_aligned(3000, k, not_pow2=True, zero=True)
    yield "aligned-not-pow2", p.data()

    # Requests that must fail, through both bases; a failed reallocation
    # keeps its block.
    for static in (False, True):
        p = Program(static=static)
        p.alloc(100)
        p.alloc(300000)
        for which in range(4):
            for value in (0, 1, 4095, 65535):
                p.impossible(which, value, zero=(value % 2 == 1))
        p.check_all()
        yield "impossible" + ("-static" if static else ""), p.data()

    # allocate_at_least, then writing all of usable_size.
    p = Program()
    for n in (1, 100, 1000, 9000, 70000, 2 * MIB + 1):
        p.alloc_at_least(n)
    for i in range(6):
        p.usable(i)
    p.alloc(33)
    p.usable(6)
    p.realloc(6, 40)
    p.check_all()
    yield "at-least-usable", p.data()

    # Reallocation: grow and shrink through every size range, in place and
    # moving; aligned blocks keep their alignment; reallocate(nullptr).
    p = Program()
    p.alloc(10)
    for n in (12, 20, 100, 1000, 900, 5000, 60000, 100000, 3 * MIB, 5 * MIB, 70000, 64, 0, 1):
        p.realloc(0, n)
    p.alloc_aligned(100, 12)
    for n in (200, 5000, 50, 3 * MIB):
        p.realloc(1, n)
    p.realloc(0, 77, from_null=True)
    p.usable(2)
    p.realloc(2, 20)
    yield "realloc-chain", p.data()

    # Two heaps: blocks of one freed through the other, and through the
    # Arenas; reallocation through the other heap.
    p = Program(heaps=2)
    p.burst(64, 32, h=0)
    p.burst(64, 32, h=1)
    p.free_burst(0, 16, via=VIA_HEAP, heap=1)
    p.free_burst(0, 8, via=VIA_ARENAS)
    p.free_burst(0, 8, via=VIA_HEAP_NONNULL, heap=0)
    p.realloc(0, 3000, h=1)
    p.realloc(1, 100000, h=0)
    p.collect(0)
    p.collect(1)
    p.burst(64, 32, h=0)
    yield "cross-heap-free", p.data()

    # Full pages: fill pages of 8 KiB and 1 KiB blocks, free them through
    # another heap (delayed frees to the owner), then allocate again.
    p = Program(heaps=2)
    for _ in range(3):
        p.burst(8192, 64, h=0)
    p.burst(1024, 64, h=0)
    p.free_burst(0, 64, via=VIA_HEAP, heap=1)
    p.free_burst(0, 64, via=VIA_ARENAS)
    p.burst(8192, 30, h=0)
    p.burst(1024, 30, h=0)
    p.collect(0)
    p.free_burst(0, 64, via=VIA_HEAP, heap=1)
    p.collect(0, force=True)
    yield "full-pages-delayed", p.data()

    # A heap dies with live blocks; they are freed through the other heap
    # and the Arenas, and a forced collect reclaims the abandoned segments.
    p = Program(heaps=2)
    p.burst(100, 50, h=0)
    p.burst(20000, 10, h=0)
    p.alloc(300000, h=0)
    p.alloc(3 * MIB, h=0)
    p.heap_reset(0, new_context=True)
    p.free_burst(3, 30, via=VIA_HEAP, heap=1)
    p.free_burst(0, 10, via=VIA_ARENAS)
    p.collect(1, force=True)
    p.burst(100, 20, h=1)
    p.heap_reset(1)
    p.burst(100, 20, h=0)
    yield "heap-reset-abandon", p.data()

    # A heap is recreated on its old Context; blocks of the dead heap are
    # freed through its successor (the new heap reclaims their segments).
    p = Program(heaps=1)
    p.burst(256, 64)
    p.burst(50000, 4)
    p.heap_reset(0, new_context=False)
    p.free_burst(0, 20)
    p.burst(256, 10)
    p.collect(0, force=True)
    p.free_burst(0, 30)
    p.heap_reset(0, new_context=False)
    p.alloc(10)
    yield "heap-reset-same-context", p.data()

    # Moving a heap away and back; the moved-from heap refuses to
    # allocate and frees through the remote path.
    p = Program(heaps=2)
    p.burst(40, 20, h=0)
    p.burst(4000, 8, h=1)
    p.heap_move(0, 3, assign=False)
    p.heap_move(1, 21, assign=True)
    p.burst(40, 20, h=0)
    p.heap_move(0, 0, assign=True)
    p.collect(0)
    yield "heap-move", p.data()

    # The fast path alone: nullptr until a page exists, then blocks.
    p = Program()
    p.try_fast(16)
    p.alloc(16)
    for n in (16, 16, 16, 0, 64, 1020):
        p.try_fast(n)
    p.alloc(1020)
    p.try_fast(1020)
    yield "try-fast", p.data()

    # collect(true) with live blocks around: decommitted free pages must
    # not touch them.
    p = Program(heaps=2)
    p.burst(500, 64)
    p.burst(9000, 20)
    p.free_burst(10, 40)
    p.collect(0, force=True)
    p.collect(1, force=True)
    p.check_all()
    p.burst(500, 64)
    p.burst(9000, 20, zero=True)
    p.collect(0, force=False)
    yield "collect-force-live", p.data()

    # Size-class boundaries: class size - 1, + 0, + 1 of every class.
    p = Program()
    for c in range(1, CLASS_COUNT):
        p.out += bytes([ALLOC, 0]) + boundary(c, -1 if c % 3 == 0 else (0 if c % 3 == 1 else 1))
        if c % 8 == 0:
            p.free_burst(0, 8)
    yield "class-boundaries", p.data()

    # Huge blocks, aligned past the segment size.
    p = Program()
    p.alloc(2 * MIB + 1)
    p.alloc_aligned(3 * MIB, 23)
    p.alloc_aligned(100, 22, zero=True)
    p.alloc_aligned(5 * MIB, 21)
    p.free(1, via=VIA_ARENAS)
    p.realloc(0, 8 * MIB)
    p.free_burst(0, 3)
    yield "huge-aligned", p.data()

    # A Static region runs out: allocations fail, frees make room again.
    p = Program(static=True)
    for _ in range(12):
        p.alloc(3 * MIB)
    p.burst(2 * MIB, 8)
    p.free_burst(0, 6)
    p.alloc_zeroed(3 * MIB)
    p.burst(60000, 64)
    p.collect(0, force=True)
    p.realloc(0, 7 * MIB)
    yield "static-exhausted", p.data()

    # A Static region with several heaps, a dying heap and cross frees.
    p = Program(heaps=3, static=True)
    p.burst(128, 64, h=0, rotate=True)
    p.burst(6000, 16, h=1)
    p.heap_reset(1, new_context=True)
    p.free_burst(0, 40, via=VIA_HEAP, heap=2)
    p.alloc_zeroed(5000, h=1)
    p.collect(2, force=True)
    p.heap_move(2, 0)
    yield "static-heaps", p.data()

    # Mixed random operations (deterministic), one per configuration.
    for k, (heaps, static) in enumerate(((1, False), (2, False), (3, False), (4, False),
                                         (2, True), (4, True))):
        rng = random.Random(0xFE220C + k)
        p = Program(heaps=heaps, static=static)
        for _ in range(120):
            op = rng.randrange(16)
            if op in (0, 1, 2, 4):
                n = rng.choice((rng.randrange(129), rng.randrange(1025), rng.randrange(9000),
                                rng.randrange(70000)))
                p.out += bytes([op, rng.randrange(256)]) + size(n)
            elif op == 3:
                p.alloc_aligned(rng.randrange(3000), rng.randrange(14), h=rng.randrange(4),
                                zero=rng.random() < 0.3)
            elif op in (5, 6):
                # Opcodes 5 and 6 are both "free".
                p.out += bytes([op]) + u16(rng.randrange(64))
                p.out.append(rng.randrange(4) | (rng.randrange(4) << 2))
            elif op == 7:
                p.realloc(rng.randrange(64), rng.randrange(20000), h=rng.randrange(4))
            elif op == 8:
                p.usable(rng.randrange(64))
            elif op == 9:
                p.collect(rng.randrange(4), force=rng.random() < 0.2)
            elif op == 10:
                if rng.random() < 0.3:
                    p.heap_reset(rng.randrange(4), new_context=rng.random() < 0.5)
            elif op == 11:
                p.heap_move(rng.randrange(4), rng.randrange(64), assign=rng.random() < 0.5)
            elif op == 12:
                p.burst(rng.choice((16, 48, 300, 2000)), rng.randrange(1, 33), h=rng.randrange(4),
                        rotate=rng.random() < 0.5)
            elif op == 13:
                p.free_burst(rng.randrange(64), rng.randrange(1, 17), via=rng.randrange(4),
                             heap=rng.randrange(4))
            elif op == 14:
                p.try_fast(4 * rng.randrange(256), h=rng.randrange(4))
            else:
                p.check_all()
        name = "random-%dheap%s" % (heaps, "-static" if static else "")
        yield name, p.data()


# Operand bytes of each opcode, to walk an input (see fuzz_heap.cpp).
OPERAND_BYTES = (4, 4, 4, 5, 4, 3, 3, 6, 2, 1, 1, 3, 5, 4, 2, 0)


def opcodes_of(data):
    """The opcodes of the complete operations of an input."""
    seen = set()
    at = 1
    while at < len(data):
        op = data[at] % 16
        at += 1 + OPERAND_BYTES[op]
        if at <= len(data):
            seen.add(op)
    return seen


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    os.makedirs(out, exist_ok=True)
    seen = set()
    count = 0
    for name, data in seeds():
        name = "%02d-%s" % (count + 1, name)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        seen |= opcodes_of(data)
        count += 1
    missing = sorted(set(range(16)) - seen)
    if missing:
        sys.exit("make_corpus.py: no seed uses opcodes %s" % missing)
    print("make_corpus.py: wrote %d seeds to %s, using all 16 opcodes" % (count, out))


if __name__ == "__main__":
    main()
