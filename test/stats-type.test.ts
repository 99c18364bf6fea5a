/**
 * The TypeScript `HeapStats` type (lib/stats.ts) against the field list the
 * addon exports (native/core/stats_fields.cc): the type is written by hand,
 * so this test reads it with the TypeScript compiler and fails when a field
 * is in one and not the other, or is a boolean in one only. Array rows
 * ("sizeClasses.3.pools") are compared as "sizeClasses.#.pools"; a table's
 * `length` is the addon's count of rows in use.
 */
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { statsFields } from '../lib/native';

const STATS_FILE = path.join(__dirname, '..', 'lib', 'stats.ts');

/** Fields of the page header, not of the list: lib/stats-page.ts and heap.stats() add them. */
const HEADER_FIELDS = ['name', 'pid', 'heapId'];

interface TypeLeaves {
  /** path -> 'number' | 'boolean' | 'string' */
  leaves: Map<string, string>;
  /** paths of arrays (not tuples), whose rows are '#' */
  arrays: Set<string>;
}

function leavesOfHeapStats(): TypeLeaves {
  const program = ts.createProgram([STATS_FILE], { strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(STATS_FILE)!;
  const symbol = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).find((s) => s.name === 'HeapStats');
  if (symbol === undefined) throw new Error('lib/stats.ts declares no HeapStats');
  const result: TypeLeaves = { leaves: new Map(), arrays: new Set() };
  const walk = (type: ts.Type, at: string) => {
    const flags = type.getFlags();
    if (flags & ts.TypeFlags.BooleanLike) return void result.leaves.set(at, 'boolean');
    if (flags & ts.TypeFlags.NumberLike) return void result.leaves.set(at, 'number');
    if (flags & ts.TypeFlags.StringLike) return void result.leaves.set(at, 'string');
    const join = (key: string) => (at === '' ? key : `${at}.${key}`);
    if (checker.isTupleType(type)) {
      checker.getTypeArguments(type as ts.TypeReference).forEach((element, i) => walk(element, join(String(i))));
      return;
    }
    if (checker.isArrayType(type)) {
      result.arrays.add(at);
      walk(checker.getTypeArguments(type as ts.TypeReference)[0]!, join('#'));
      return;
    }
    const properties = type.getProperties();
    if (properties.length === 0) throw new Error(`HeapStats.${at}: a type this test cannot read (${checker.typeToString(type)})`);
    for (const property of properties) walk(checker.getTypeOfSymbolAtLocation(property, source), join(property.name));
  };
  walk(checker.getDeclaredTypeOfSymbol(symbol), '');
  return result;
}

/** The addon's fields as type paths: rows of an array become '#', a table's length is left out. */
function leavesOfFieldList(arrays: Set<string>): Map<string, string> {
  const leaves = new Map<string, string>();
  for (const field of statsFields) {
    const pieces: string[] = [];
    for (const piece of field.path.split('.')) pieces.push(arrays.has(pieces.join('.')) && /^\d+$/.test(piece) ? '#' : piece);
    const at = pieces.join('.');
    if (pieces.at(-1) === 'length' && arrays.has(pieces.slice(0, -1).join('.'))) continue;
    const kind = field.boolean ? 'boolean' : 'number';
    const before = leaves.get(at);
    if (before !== undefined && before !== kind) throw new Error(`${field.path}: a boolean in one row, a number in another`);
    leaves.set(at, kind);
  }
  for (const name of HEADER_FIELDS) leaves.set(name, name === 'name' ? 'string' : 'number');
  return leaves;
}

describe('the HeapStats type', () => {
  it('has exactly the fields the addon lists, each a boolean where the list says so', () => {
    const { leaves, arrays } = leavesOfHeapStats();
    expect(leaves.size).toBeGreaterThan(30);  // the type was read, not an empty shell
    expect([...arrays].sort()).toEqual(['gc.generations', 'sizeClasses']);
    const listed = leavesOfFieldList(arrays);
    const sorted = (map: Map<string, string>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted(leaves)).toEqual(sorted(listed));
  });
});
