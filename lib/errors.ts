/**
 * Errors that are refheap's own: a number that names no live block
 * (`ERR_INVALID_REF`, with `index` from `releaseMany`), a closed heap
 * (`ERR_HEAP_CLOSED`) and a mapping the OS refused (`ERR_OS_MEMORY`).
 * Argument errors are Node's usual `TypeError` / `RangeError` with a `code`;
 * `ERR_HEAP_LIMIT` is a `RangeError`.
 *
 * `code` (and `index`) are own data properties, writable, enumerable and
 * configurable, as on Node's own errors and on the addon's: the class fields
 * below are defined, and the argument errors get theirs with setOwn, never
 * by assignment, which a setter on Object.prototype would catch.
 */
import { setOwn } from './own';

export class RefheapError extends Error {
  readonly code: string;
  /** For `releaseMany`: the position of the first invalid ref. */
  index?: number;

  constructor(message: string, code: string) {
    super(message);
    this.name = 'RefheapError';
    this.code = code;
  }
}

/** The kind of error Node.js throws for bad arguments, with its code. */
export function invalidArgType(name: string, expected: string, received: unknown): TypeError {
  const error = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(received)}`);
  setOwn(error, 'code', 'ERR_INVALID_ARG_TYPE');
  return error;
}

export function outOfRange(name: string, range: string, received: unknown): RangeError {
  const error = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(received)}`);
  setOwn(error, 'code', 'ERR_OUT_OF_RANGE');
  return error;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `type string ('${value.length > 28 ? value.slice(0, 25) + '...' : value}')`;
  if (typeof value === 'object') return 'an object';
  return `type ${typeof value}`;
}
