"""CPython's side of the cycle-collector benchmark (bench/gc/run.js runs it).

The analog of a refheap block with 4 slots and no data is an instance of a
class with __slots__ = ('a', 'b', 'c', 'd'): four inline object pointers,
no __dict__, tracked by the collector (48-byte object + 16-byte GC header;
the refheap block is 16-byte header + 4 x 8-byte slots = 48 bytes). A
4-element list would be a further allocation (its item array) per object.

Usage:
  python3 graphs.py collect --shape pairs|ring|random --n N [--reps R]
      gc.disable(); build the graph, every object also held by one list (as
      JavaScript holds every ref in the Float64Array from allocMany); time
      gc.collect() R times with everything alive; drop the list; time one
      gc.collect() that finds and frees the cycles.
  python3 graphs.py auto --shape pairs|ring|random --n N
      build N objects one by one (linking as they come) with automatic
      collection on and default thresholds; every pause timed through
      gc.callbacks. With --no-gc: the same build with gc.disable() (the build
      time without collections; run.js runs it in a process of its own).

Prints one JSON object on stdout. Times in nanoseconds unless named _ms.
"""

import argparse
import gc
import json
import sys
import time


class Node:
    __slots__ = ('a', 'b', 'c', 'd')


def make_random(seed):
    """xorshift32, bit for bit the one of bench/gc/graphs.js (and lib/stress.ts)."""
    state = [seed & 0xFFFFFFFF or 1]

    def random():
        x = state[0]
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        state[0] = x
        return x / 4294967296.0

    return random


SEED = 0x5EED


def build(n, shape):
    """All objects first, then the links: the same graph as graphs.js builds."""
    objs = [Node() for _ in range(n)]
    if shape == 'pairs':
        for i in range(0, n - 1, 2):
            x = objs[i]
            y = objs[i + 1]
            x.a = y
            y.a = x
    elif shape == 'ring':
        for i in range(n - 1):
            objs[i].a = objs[i + 1]
        objs[n - 1].a = objs[0]
    elif shape == 'random':
        random = make_random(SEED)
        for o in objs:
            o.a = objs[int(random() * n)]
            o.b = objs[int(random() * n)]
            o.c = objs[int(random() * n)]
            o.d = objs[int(random() * n)]
    else:
        raise SystemExit(f'unknown shape {shape}')
    return objs


def build_incrementally(n, shape):
    """One object at a time, linked as it comes (what a program does)."""
    objs = []
    append = objs.append
    if shape == 'pairs':
        for _ in range(n // 2):
            x = Node()
            y = Node()
            x.a = y
            y.a = x
            append(x)
            append(y)
    elif shape == 'ring':
        first = prev = Node()
        append(first)
        for _ in range(n - 1):
            o = Node()
            prev.a = o
            append(o)
            prev = o
        prev.a = first
    elif shape == 'random':
        random = make_random(SEED)
        for i in range(n):
            o = Node()
            append(o)
            m = i + 1
            o.a = objs[int(random() * m)]
            o.b = objs[int(random() * m)]
            o.c = objs[int(random() * m)]
            o.d = objs[int(random() * m)]
    return objs


def timed_collect():
    t0 = time.perf_counter_ns()
    found = gc.collect()
    return time.perf_counter_ns() - t0, found


def run_collect(n, shape, reps):
    gc.disable()
    gc.collect()
    # The interpreter's own tracked objects are in every full collection:
    # measured here, subtracted by run.js.
    baseline_objects = len(gc.get_objects())
    baseline = min(timed_collect()[0] for _ in range(5))
    objs = build(n, shape)
    live = []
    for _ in range(reps):
        ns, found = timed_collect()
        if found != 0:
            raise SystemExit(f'live collection found {found} unreachable objects')
        live.append(ns)
    del objs
    garbage_ns, found = timed_collect()
    after = min(timed_collect()[0] for _ in range(3))
    return {
        'side': 'cpython', 'mode': 'collect', 'shape': shape, 'n': n,
        'baseline_ns': baseline, 'baseline_objects': baseline_objects,
        'live_ns': min(live), 'live_all_ns': live,
        'garbage_ns': garbage_ns, 'garbage_found': found, 'baseline_after_ns': after,
    }


def run_auto(n, shape, no_gc):
    gc.disable()
    gc.collect()
    gc.set_threshold(700, 10, 10)
    if no_gc:
        t0 = time.perf_counter_ns()
        objs = build_incrementally(n, shape)
        build_ns = time.perf_counter_ns() - t0
        return {'side': 'cpython', 'mode': 'auto', 'shape': shape, 'n': n, 'gc': False, 'build_ns': build_ns}
    pauses = []
    gens = [0, 0, 0]
    started = [0]

    def callback(phase, info):
        if phase == 'start':
            started[0] = time.perf_counter_ns()
        else:
            pauses.append(time.perf_counter_ns() - started[0])
            gens[info['generation']] += 1

    gc.callbacks.append(callback)
    gc.enable()
    t0 = time.perf_counter_ns()
    objs = build_incrementally(n, shape)
    build_ns = time.perf_counter_ns() - t0
    gc.disable()
    gc.callbacks.remove(callback)
    return {
        'side': 'cpython', 'mode': 'auto', 'shape': shape, 'n': n, 'gc': True,
        'collections': len(pauses), 'generations': gens,
        'max_pause_ns': max(pauses, default=0), 'total_pause_ns': sum(pauses),
        'build_ns': build_ns,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('mode', choices=['collect', 'auto'])
    parser.add_argument('--shape', required=True, choices=['pairs', 'ring', 'random'])
    parser.add_argument('--n', type=int, required=True)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--no-gc', action='store_true')
    args = parser.parse_args()
    if args.mode == 'collect':
        result = run_collect(args.n, args.shape, args.reps)
    else:
        result = run_auto(args.n, args.shape, args.no_gc)
    result['python'] = sys.version.split()[0]
    print(json.dumps(result))


if __name__ == '__main__':
    main()
