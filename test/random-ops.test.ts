/**
 * A seeded random mix of operations, checked step by step against a plain
 * JavaScript model of the heap: counts, slots, data and which blocks die
 * when a count reaches zero (the cascade through slots included).
 */
import { describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectConsistent, seededRandom } from './helpers';

interface ModelBlock {
  count: number;
  slots: (number | null)[];
  size: number;
  stamp: number; // the Uint32 written at offset 0, when size >= 4
}

class Model {
  readonly blocks = new Map<number, ModelBlock>();
  readonly held: number[] = []; // one entry per count JavaScript holds
  readonly dead: number[] = [];
  readonly live: number[] = []; // the keys of `blocks`, for picking one at random
  readonly #position = new Map<number, number>();

  add(ref: number, block: ModelBlock): void {
    this.blocks.set(ref, block);
    this.#position.set(ref, this.live.length);
    this.live.push(ref);
  }

  release(ref: number): void {
    const pending = [ref];
    while (pending.length > 0) {
      const current = pending.pop()!;
      const block = this.blocks.get(current)!;
      if (--block.count > 0) continue;
      this.blocks.delete(current);
      this.dead.push(current);
      const index = this.#position.get(current)!;
      const last = this.live.pop()!;
      if (last !== current) {
        this.live[index] = last;
        this.#position.set(last, index);
      }
      this.#position.delete(current);
      for (const target of block.slots) if (target !== null) pending.push(target);
    }
  }
}

function runOps(seed: number, steps: number): void {
  const random = seededRandom(seed);
  const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)];
  const heap = new Heap({ autoCollect: false }); // the model knows counts, not cycles
  const model = new Model();
  const liveRefs = () => model.live;

  for (let step = 0; step < steps; step++) {
    const roll = random();
    if (roll < 0.3 || model.blocks.size === 0) {
      const size = random() < 0.05 ? 513 + Math.floor(random() * 3000) : Math.floor(random() * 200);
      const slots = Math.floor(random() * 5);
      const ref = heap.alloc(size, slots);
      expect(model.blocks.has(ref)).toBe(false);
      model.add(ref, { count: 1, slots: new Array(slots).fill(null), size, stamp: 0 });
      model.held.push(ref);
    } else if (roll < 0.5 && model.held.length > 0) {
      const index = Math.floor(random() * model.held.length);
      const ref = model.held[index];
      model.held[index] = model.held[model.held.length - 1];
      model.held.pop();
      heap.release(ref);
      model.release(ref);
    } else if (roll < 0.6) {
      const ref = pick(liveRefs()); // possibly only borrowed: retaining it is how JS takes a count
      expect(heap.retain(ref)).toBe(ref);
      model.blocks.get(ref)!.count++;
      model.held.push(ref);
    } else if (roll < 0.8) {
      const live = liveRefs();
      const ref = pick(live);
      const block = model.blocks.get(ref)!;
      if (block.slots.length === 0) continue;
      const slot = Math.floor(random() * block.slots.length);
      const target = random() < 0.2 ? null : pick(live);
      heap.setRef(ref, slot, target);
      if (target !== null) model.blocks.get(target)!.count++;
      const previous = block.slots[slot];
      block.slots[slot] = target;
      if (previous !== null) model.release(previous);
    } else if (roll < 0.9) {
      const ref = pick(liveRefs());
      const block = model.blocks.get(ref)!;
      if (block.size < 4) continue;
      block.stamp = Math.floor(random() * 2 ** 32);
      heap.setUint32(ref, 0, block.stamp);
    } else if (roll < 0.97) {
      const ref = pick(liveRefs());
      const block = model.blocks.get(ref)!;
      expect(heap.refcount(ref)).toBe(block.count);
      expect(heap.sizeOf(ref)).toBe(block.size);
      expect(heap.slotCount(ref)).toBe(block.slots.length);
      block.slots.forEach((target, i) => expect(heap.getRef(ref, i)).toBe(target));
      if (block.size >= 4) expect(heap.getUint32(ref, 0)).toBe(block.stamp);
    } else if (model.dead.length > 0) {
      const ref = pick(model.dead);
      if (!model.blocks.has(ref)) expect(() => heap.refcount(ref)).toThrow(RefheapError);
    }
    if (step % 10_000 === 0) {
      expect(heap.stats().liveBlocks).toBe(model.blocks.size);
      expectConsistent(heap);
    }
  }

  expect(heap.stats().liveBlocks).toBe(model.blocks.size);
  for (const [ref, block] of model.blocks) expect(heap.refcount(ref)).toBe(block.count);
  for (const ref of model.dead) if (!model.blocks.has(ref)) expect(() => heap.sizeOf(ref)).toThrow(RefheapError);
  expectConsistent(heap);
  heap.close();
}

describe('random operations against a model', () => {
  it.each([1, 2, 3])('seed %i: 120,000 operations agree with the model', (seed) => {
    runOps(seed, 120_000);
  }, 120_000);
});
