/**
 * The module-level `gc`: Python's `gc` module bound to a default heap that
 * is created on first use.
 */
import { Heap } from './heap';
import type { Gc } from './gc';

let defaultHeap: Heap | undefined;

/** The heap behind the module-level `gc`, created on first use. */
export function getDefaultHeap(): Heap {
  if (defaultHeap === undefined || defaultHeap.closed) defaultHeap = new Heap({ name: 'default' });
  return defaultHeap;
}

export const gc: Gc = new Proxy({} as Gc, {
  get(_target, property) {
    const target = getDefaultHeap().gc;
    const value: unknown = Reflect.get(target, property, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
  set(_target, property, value) {
    return Reflect.set(getDefaultHeap().gc, property, value);
  },
});
