// Regular expressions for the filter language that run in linear time, whatever the pattern.
//
// JavaScript's RegExp backtracks: a pattern such as `(.*){4}!` takes minutes on one URL, and the filter runs on
// mitmlab's main thread (exports) and on the live view's (each keystroke). This is a Thompson NFA run as a Pike VM
// (Russ Cox, "Regular Expression Matching Can Be Simple And Fast", 2007): every input character is read once, with
// at most one thread per instruction, so the cost is bounded by pattern size × text length, and both are bounded.
//
// The syntax is the common subset of JavaScript's: literals, `.`, classes `[a-z]` `[^…]`, escapes \d \w \s (and their
// negations) \b \B \t \n \r \xHH \uHHHH and escaped punctuation, groups `( )` `(?: )` `(?<name> )`, `|`, `^`, `$`,
// and the quantifiers * + ? {n} {n,} {n,m} (lazy forms accepted: for "does it match" they mean the same).
// Backreferences and lookaround need backtracking and are refused with a reason. Matching ignores case, like the
// filter's RegExp did. Pure; compile throws LinearRegexError with a message, test never throws.

export class LinearRegexError extends Error {}

/** Instructions a pattern may compile to: a filter box, not a program (counted repetition is expanded). */
const MAX_PROGRAM = 2_000;
/** Characters of a text that are examined; a URL longer than this is matched on its start. */
const MAX_TEXT = 16_384;

type CharTest = (code: number) => boolean;

type Instruction =
  | { op: 'char'; test: CharTest }
  | { op: 'split'; a: number; b: number }
  | { op: 'jump'; to: number }
  | { op: 'assert'; kind: '^' | '$' | 'b' | 'B' }
  | { op: 'match' };

type Node =
  | { kind: 'char'; test: CharTest }
  | { kind: 'assert'; which: '^' | '$' | 'b' | 'B' }
  | { kind: 'seq'; items: Node[] }
  | { kind: 'alt'; options: Node[] }
  | { kind: 'repeat'; item: Node; min: number; max: number | null };

export interface LinearRegex {
  test(text: string): boolean;
}

/** Compiles `source` (case-insensitive). Throws LinearRegexError with a reason for what it cannot run. */
export function compileLinearRegex(source: string): LinearRegex {
  const parser = new Parser(source);
  const tree = parser.parse();
  const program: Instruction[] = [];
  emit(tree, program);
  program.push({ op: 'match' });
  return { test: (text) => run(program, text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text) };
}

class Parser {
  #pos = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.#alternation();
    if (this.#pos < this.src.length) throw new LinearRegexError(`unmatched ")" at position ${this.#pos + 1}`);
    return node;
  }

  #alternation(): Node {
    const options = [this.#sequence()];
    while (this.src[this.#pos] === '|') {
      this.#pos++;
      options.push(this.#sequence());
    }
    return options.length === 1 ? options[0]! : { kind: 'alt', options };
  }

  #sequence(): Node {
    const items: Node[] = [];
    while (this.#pos < this.src.length && this.src[this.#pos] !== '|' && this.src[this.#pos] !== ')') {
      items.push(this.#quantified());
    }
    return { kind: 'seq', items };
  }

  #quantified(): Node {
    const start = this.#pos;
    const atom = this.#atom();
    const bounds = this.#quantifier();
    if (!bounds) return atom;
    if (atom.kind === 'assert') throw new LinearRegexError(`nothing to repeat at position ${start + 1}`);
    if (this.src[this.#pos] === '?') this.#pos++; // lazy: the same for a yes/no match
    if (this.#quantifier() !== null) throw new LinearRegexError(`nothing to repeat at position ${this.#pos}`);
    return { kind: 'repeat', item: atom, min: bounds.min, max: bounds.max };
  }

  #quantifier(): { min: number; max: number | null } | null {
    const c = this.src[this.#pos];
    if (c === '*' || c === '+' || c === '?') {
      this.#pos++;
      return c === '*' ? { min: 0, max: null } : c === '+' ? { min: 1, max: null } : { min: 0, max: 1 };
    }
    if (c !== '{') return null;
    // {n}, {n,}, {n,m}; anything else is a literal "{", as JavaScript reads it outside unicode mode.
    const match = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(this.src.slice(this.#pos));
    if (!match) return null;
    this.#pos += match[0].length;
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === '' ? null : Number(match[3]);
    if (max !== null && max < min) throw new LinearRegexError(`numbers out of order in ${match[0]}`);
    return { min, max };
  }

  #atom(): Node {
    const c = this.src[this.#pos]!;
    this.#pos++;
    switch (c) {
      case '(':
        return this.#group();
      case '[':
        return { kind: 'char', test: this.#charClass() };
      case '.':
        return { kind: 'char', test: (code) => code !== 10 && code !== 13 && code !== 0x2028 && code !== 0x2029 };
      case '^':
        return { kind: 'assert', which: '^' };
      case '$':
        return { kind: 'assert', which: '$' };
      case '\\':
        return this.#escape(false) as Node;
      case '*':
      case '+':
      case '?':
        throw new LinearRegexError(`nothing to repeat at position ${this.#pos}`);
      default:
        return literal(lower(c.charCodeAt(0)));
    }
  }

  #group(): Node {
    if (this.src.startsWith('?:', this.#pos)) this.#pos += 2;
    else if (/^\?<[A-Za-z_$][\w$]*>/.test(this.src.slice(this.#pos))) this.#pos = this.src.indexOf('>', this.#pos) + 1;
    else if (this.src[this.#pos] === '?') throw new LinearRegexError('lookahead and lookbehind ((?=…), (?!…), (?<=…)) are not supported in filters');
    const inner = this.#alternation();
    if (this.src[this.#pos] !== ')') throw new LinearRegexError('unterminated group: a "(" has no ")"');
    this.#pos++;
    return inner;
  }

  /** After a backslash. In a class, \b is a backspace; outside, a word boundary. */
  #escape(inClass: boolean): Node | CharTest {
    const c = this.src[this.#pos];
    if (c === undefined) throw new LinearRegexError('the pattern ends with a lone "\\"');
    this.#pos++;
    switch (c) {
      case 'd':
        return wrap(isDigit, inClass);
      case 'D':
        return wrap((code) => !isDigit(code), inClass);
      case 'w':
        return wrap(isWord, inClass);
      case 'W':
        return wrap((code) => !isWord(code), inClass);
      case 's':
        return wrap(isSpace, inClass);
      case 'S':
        return wrap((code) => !isSpace(code), inClass);
      case 'b':
        return inClass ? (code: number) => code === 8 : { kind: 'assert', which: 'b' };
      case 'B':
        if (inClass) throw new LinearRegexError('\\B has no meaning in a character class');
        return { kind: 'assert', which: 'B' };
      case 't':
        return wrap((code) => code === 9, inClass);
      case 'n':
        return wrap((code) => code === 10, inClass);
      case 'r':
        return wrap((code) => code === 13, inClass);
      case 'f':
        return wrap((code) => code === 12, inClass);
      case 'v':
        return wrap((code) => code === 11, inClass);
      case '0':
        return wrap((code) => code === 0, inClass);
      case 'x':
      case 'u': {
        const digits = c === 'x' ? 2 : 4;
        const hex = this.src.slice(this.#pos, this.#pos + digits);
        if (!new RegExp(`^[0-9a-f]{${digits}}$`, 'i').test(hex)) throw new LinearRegexError(`\\${c} needs ${digits} hex digits`);
        this.#pos += digits;
        return wrapLiteral(parseInt(hex, 16), inClass);
      }
      default:
        if (/[1-9]/.test(c) || c === 'k') throw new LinearRegexError('backreferences (\\1, \\k<name>) are not supported in filters');
        // Escaped punctuation (\. \/ \? …) and any other escaped character stand for themselves.
        return wrapLiteral(c.charCodeAt(0), inClass);
    }
  }

  #charClass(): CharTest {
    const negated = this.src[this.#pos] === '^';
    if (negated) this.#pos++;
    const parts: CharTest[] = [];
    let first = true;
    while (true) {
      if (this.#pos >= this.src.length) throw new LinearRegexError('unterminated character class: a "[" has no "]"');
      const c = this.src[this.#pos]!;
      if (c === ']' && !first) {
        this.#pos++;
        break;
      }
      if (c === ']' && first) {
        // JavaScript reads "[]" as a class that matches nothing (and "[^]" as any character).
        this.#pos++;
        const never: CharTest = () => false;
        return negated ? (code) => !never(code) : never;
      }
      first = false;
      const low = this.#classAtom();
      if (this.src[this.#pos] === '-' && this.src[this.#pos + 1] !== ']' && this.#pos + 1 < this.src.length && typeof low === 'number') {
        this.#pos++;
        const high = this.#classAtom();
        if (typeof high !== 'number') throw new LinearRegexError('a range in a character class cannot end in \\d, \\w or \\s');
        if (high < low) throw new LinearRegexError('range out of order in a character class');
        parts.push(foldCase((code) => code >= low && code <= high));
      } else {
        parts.push(typeof low === 'number' ? foldCase((code) => code === low) : low);
      }
    }
    const any: CharTest = (code) => parts.some((part) => part(code));
    return negated ? (code) => !any(code) : any;
  }

  /** One class member: a code point, or a test for \d \w \s and their negations. */
  #classAtom(): number | CharTest {
    const c = this.src[this.#pos]!;
    this.#pos++;
    if (c !== '\\') return c.charCodeAt(0);
    const escaped = this.#escape(true) as CharTest & { literal?: number };
    return escaped.literal ?? escaped;
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isWord(code: number): boolean {
  return isDigit(code) || (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0xfeff || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000;
}

/** Texts are lower-cased before matching; a class range such as [A-Z] must match their lower-case letters too. */
function foldCase(test: CharTest): CharTest {
  return (code) => test(code) || test(String.fromCharCode(code).toUpperCase().charCodeAt(0));
}

function literal(code: number): Node {
  return { kind: 'char', test: (c) => c === code };
}

function wrap(test: CharTest, inClass: boolean): Node | CharTest {
  return inClass ? test : { kind: 'char', test };
}

/** The lower-case form of a code unit (texts are lower-cased before matching). */
function lower(code: number): number {
  return String.fromCharCode(code).toLowerCase().charCodeAt(0);
}

function wrapLiteral(code: number, inClass: boolean): Node | CharTest {
  if (!inClass) return literal(lower(code));
  // In a class the code stays as written: ranges compare it, and foldCase matches either case.
  return Object.assign((c: number) => c === code, { literal: code });
}

function emit(node: Node, program: Instruction[]): void {
  if (program.length > MAX_PROGRAM) throw new LinearRegexError('the pattern is too large for a filter (its repetitions expand too far)');
  switch (node.kind) {
    case 'char':
      program.push({ op: 'char', test: node.test });
      return;
    case 'assert':
      program.push({ op: 'assert', kind: node.which });
      return;
    case 'seq':
      for (const item of node.items) emit(item, program);
      return;
    case 'alt': {
      // split L1, L2 / L1: a; jump end / L2: b …
      const jumps: Array<{ op: 'jump'; to: number }> = [];
      node.options.forEach((option, i) => {
        if (i < node.options.length - 1) {
          const split: Instruction = { op: 'split', a: program.length + 1, b: -1 };
          program.push(split);
          emit(option, program);
          const jump = { op: 'jump' as const, to: -1 };
          program.push(jump);
          jumps.push(jump);
          split.b = program.length;
        } else emit(option, program);
      });
      for (const jump of jumps) jump.to = program.length;
      return;
    }
    case 'repeat': {
      for (let i = 0; i < node.min; i++) emit(node.item, program);
      if (node.max === null) {
        // L: split body, end / body; jump L
        const loop = program.length;
        const split: Instruction = { op: 'split', a: loop + 1, b: -1 };
        program.push(split);
        emit(node.item, program);
        program.push({ op: 'jump', to: loop });
        split.b = program.length;
        return;
      }
      const skips: Array<Extract<Instruction, { op: 'split' }>> = [];
      for (let i = node.min; i < node.max; i++) {
        const split: Instruction = { op: 'split', a: program.length + 1, b: -1 };
        program.push(split);
        skips.push(split);
        emit(node.item, program);
        if (program.length > MAX_PROGRAM) throw new LinearRegexError('the pattern is too large for a filter (its repetitions expand too far)');
      }
      for (const split of skips) split.b = program.length;
      return;
    }
  }
}

/** The Pike VM: the set of instructions alive at each position, each at most once. */
function run(program: Instruction[], original: string): boolean {
  const text = original.toLowerCase();
  const n = text.length;
  const seen = new Int32Array(program.length).fill(-1);
  let current: number[] = [];
  let next: number[] = [];
  const stack: number[] = [];

  const wordAt = (i: number): boolean => i >= 0 && i < n && isWord(text.charCodeAt(i));
  /** Follows the instructions that consume nothing from `pc` at position `pos`; true when one reaches a match. */
  const add = (list: number[], start: number, pos: number, mark: number): boolean => {
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (seen[pc] === mark) continue;
      seen[pc] = mark;
      const ins = program[pc]!;
      switch (ins.op) {
        case 'match':
          stack.length = 0;
          return true;
        case 'jump':
          stack.push(ins.to);
          break;
        case 'split':
          stack.push(ins.b, ins.a);
          break;
        case 'assert': {
          const ok =
            ins.kind === '^' ? pos === 0 : ins.kind === '$' ? pos === n : (wordAt(pos - 1) !== wordAt(pos)) === (ins.kind === 'b');
          if (ok) stack.push(pc + 1);
          break;
        }
        case 'char':
          list.push(pc);
          break;
      }
    }
    return false;
  };

  for (let pos = 0; pos <= n; pos++) {
    // Unanchored search: a new attempt starts at every position.
    if (add(current, 0, pos, pos)) return true;
    if (pos === n) break;
    const code = text.charCodeAt(pos);
    next.length = 0;
    for (const pc of current) {
      const ins = program[pc] as Extract<Instruction, { op: 'char' }>;
      if (ins.test(code) && add(next, pc + 1, pos + 1, pos + 1)) return true;
    }
    [current, next] = [next, current];
  }
  return false;
}
