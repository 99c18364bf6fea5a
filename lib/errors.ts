/**
 * Errors that are refheap's own: a number that names no live block
 * (`ERR_INVALID_REF`, with `index` from `releaseMany`), a closed heap
 * (`ERR_HEAP_CLOSED`) and a mapping the OS refused (`ERR_OS_MEMORY`).
 * Argument errors are Node's usual `TypeError` / `RangeError` with a `code`,
 * made by the addon (lib/native.ts: invalidArgType, outOfRange), so that
 * each message has one form; `ERR_HEAP_LIMIT` is a `RangeError`.
 *
 * `code` (and `index`) are own data properties, writable, enumerable and
 * configurable, as on Node's own errors and on the addon's: the class fields
 * below are defined, never assigned, which a setter on Object.prototype
 * would catch.
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

/**
 * process.emitWarning(message, { code }), except that the warning's `code`
 * is an own property made here: Node assigns the one it is given, and a
 * setter on Object.prototype would take it (and a 'warning' listener would
 * see none).
 */
export function emitWarning(message: string, code: string): void {
  const warning = new Error(message);
  setOwn(warning, 'name', 'Warning');
  setOwn(warning, 'code', code);
  process.emitWarning(warning);
}
