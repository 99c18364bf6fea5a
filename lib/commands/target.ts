/** `<pid>[.<heap>]`: which heap a command is about, and finding its page. */
import { InvalidArgumentError } from 'commander';
import { statsDirectory } from '../stats-dir';
import { scanPages } from '../stats-scan';
import type { StatsPage } from '../stats-page';
import { CommandError } from './command-error';
import { printable } from './format';

export interface Target {
  pid: number;
  heapId?: number;
}

export function parseTarget(value: string): Target {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match || Number(match[1]) <= 0) throw new InvalidArgumentError('expected <pid> or <pid>.<heap>, as `refheap ps` lists them.');
  return match[2] === undefined ? { pid: Number(match[1]) } : { pid: Number(match[1]), heapId: Number(match[2]) };
}

const label = (target: Target) => (target.heapId === undefined ? `process ${target.pid}` : `heap ${target.pid}.${target.heapId}`);

/** The one page `target` names; CommandError if there is none, or more than one. */
export function findPage(target: Target): StatsPage {
  const scan = scanPages(statsDirectory(), target);
  if (scan.pages.length === 1) return scan.pages[0]!;
  if (scan.pages.length > 1) {
    const list = scan.pages.map((page) => `${page.pid}.${page.heapId} "${printable(page.name)}"`).join(', ');
    throw new CommandError(`process ${target.pid} has ${scan.pages.length} heaps (${list}); name one, as in ${scan.pages[0]!.pid}.${scan.pages[0]!.heapId}`);
  }
  if (scan.problems.length > 0) throw new CommandError(scan.problems[0]!);
  throw new CommandError(`${label(target)} has no live heap publishing statistics (see \`refheap ps\`)`);
}
