/** The CLI's text helpers: what a heap name may not do to a terminal. */
import { describe, expect, it } from 'vitest';
import { printable } from '../lib/commands/format';

describe('printable(name)', () => {
  it('shows C0 and C1 controls as \\xNN', () => {
    expect(printable('a\nb\u001b[31mc\u0085d\u007f')).toBe('a\\x0ab\\x1b[31mc\\x85d\\x7f');
  });

  it('shows characters that reorder or hide text as \\u{NNNN}', () => {
    // "evil\u202Etxt.exe" would print as "evilexe.txt".
    expect(printable('evil\u202etxt.exe')).toBe('evil\\u{202e}txt.exe');
    expect(printable('\u2066a\u2069\u200bb\u200fc\u061cd\u2028e\ufeff')).toBe(
      '\\u{2066}a\\u{2069}\\u{200b}b\\u{200f}c\\u{61c}d\\u{2028}e\\u{feff}',
    );
  });

  it('leaves every other character alone', () => {
    expect(printable('orders-é-日本-🙂 tab')).toBe('orders-é-日本-🙂 tab');
  });
});
