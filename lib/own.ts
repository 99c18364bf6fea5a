/**
 * Own data properties for what lib hands back or keeps. An assignment to a
 * property an object lacks ([[Set]]: `push`, `list[i] = x`, `obj.key = x`,
 * `Object.assign`, `new Array(n).fill`) looks along the prototype chain
 * first, and runs any setter a program put there (`Array.prototype[0]`,
 * `Object.prototype.code`): the value goes to the setter instead. Defining
 * the property does not. Literals (`[a, b]`, `{ key }`, `{ ...object }`),
 * spreads, `map`, `slice` and `split` define too, and need nothing here.
 */
const defineProperty = Object.defineProperty;

/**
 * `target[key] = value`, made as a literal makes it: writable, enumerable,
 * configurable. The descriptor has no prototype, or a `get` or `set` put on
 * Object.prototype would be read as part of it.
 */
export function setOwn(target: object, key: PropertyKey, value: unknown): void {
  defineProperty(target, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true } as PropertyDescriptor);
}

/** `list.push(value)`, without running a setter on Array.prototype. */
export function append<T>(list: T[], value: T): void {
  setOwn(list, list.length, value);
}
