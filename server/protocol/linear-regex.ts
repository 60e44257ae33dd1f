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
// Backreferences and lookaround need backtracking and are refused with a reason. Matching ignores case as RegExp's
// `i` flag does (ECMA-262 §22.2.2.7.3 Canonicalize, non-unicode mode: each code unit's upper-case form when that is
// one code unit). Pure; compile throws LinearRegexError with a message, test never throws.

export class LinearRegexError extends Error {}

/** Instructions a pattern may compile to: a filter box, not a program (counted repetition is expanded). */
const MAX_PROGRAM = 1_000;
/** Syntax nodes compiled, empty ones included (a repeated empty group emits nothing but still costs a visit). */
const MAX_EMITS = 20_000;
/** Group nesting depth (the parser recurses once per level). */
const MAX_DEPTH = 100;
/**
 * Instruction visits one test may make per character of text (and at least MIN_STEPS in all). An ordinary pattern,
 * even \w{8,64} or a list of 40 keywords, visits about a hundred per character; only one that keeps hundreds of
 * instructions alive at every character (such as [^x]{0,400}y) reaches this, and that test stops and counts as no
 * match: about 100 ms at most on a 16 KiB URL.
 */
const STEPS_PER_CHAR = 256;
const MIN_STEPS = 1_000_000;
/** Texts whose answer a compiled pattern remembers: a row is tested again each time it changes, its URL is not. */
const MEMO_SIZE = 512;

type CharTest = (code: number) => boolean;

/** {n}, {n,}, {n,m}, any number of digits. */
const QUANTIFIER = /^\{(\d+)(,(\d*))?\}/;

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
  emit(tree, program, { emits: 0 });
  program.push({ op: 'match' });
  const memo = new Map<string, boolean>();
  return {
    test: (text) => {
      const known = memo.get(text);
      if (known !== undefined) return known;
      const answer = run(program, text);
      if (memo.size >= MEMO_SIZE) memo.clear();
      memo.set(text, answer);
      return answer;
    },
  };
}

class Parser {
  #pos = 0;
  #depth = 0;
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
    // "{2}" with nothing before it is RegExp's "nothing to repeat"; a "{" that is no quantifier is a literal.
    if (this.src[this.#pos] === '{' && QUANTIFIER.test(this.src.slice(this.#pos))) throw new LinearRegexError(`nothing to repeat at position ${start + 1}`);
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
    const match = QUANTIFIER.exec(this.src.slice(this.#pos));
    if (!match) return null;
    this.#pos += match[0].length;
    // Counts beyond what a program may hold are refused when compiled; clamping keeps them finite numbers.
    const min = Math.min(Number(match[1]), MAX_PROGRAM + 1);
    const max = match[2] === undefined ? min : match[3] === '' ? null : Math.min(Number(match[3]), MAX_PROGRAM + 1);
    if (max !== null && Number(match[3] ?? match[1]) < Number(match[1])) throw new LinearRegexError(`numbers out of order in ${match[0]}`);
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
        return literal(c.charCodeAt(0));
    }
  }

  #group(): Node {
    if (++this.#depth > MAX_DEPTH) throw new LinearRegexError(`groups are nested more than ${MAX_DEPTH} deep`);
    if (this.src.startsWith('?:', this.#pos)) this.#pos += 2;
    else if (/^\?<[A-Za-z_$][\w$]*>/.test(this.src.slice(this.#pos))) this.#pos = this.src.indexOf('>', this.#pos) + 1;
    else if (this.src[this.#pos] === '?') throw new LinearRegexError('lookahead and lookbehind ((?=…), (?!…), (?<=…)) are not supported in filters');
    const inner = this.#alternation();
    if (this.src[this.#pos] !== ')') throw new LinearRegexError('unterminated group: a "(" has no ")"');
    this.#pos++;
    this.#depth--;
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
        return inClass ? wrapLiteral(8, true) : { kind: 'assert', which: 'b' };
      case 'B':
        // In a class, Annex B reads \B as the letter B.
        return inClass ? wrapLiteral(66, true) : { kind: 'assert', which: 'B' };
      case 't':
        return wrapLiteral(9, inClass);
      case 'n':
        return wrapLiteral(10, inClass);
      case 'r':
        return wrapLiteral(13, inClass);
      case 'f':
        return wrapLiteral(12, inClass);
      case 'v':
        return wrapLiteral(11, inClass);
      case 'c': {
        // \cA … \cZ: a control character (the letter's code modulo 32); otherwise a backslash and a "c".
        const letter = this.src[this.#pos];
        if (letter !== undefined && /[A-Za-z]/.test(letter)) {
          this.#pos++;
          return wrapLiteral(letter.charCodeAt(0) % 32, inClass);
        }
        this.#pos--;
        return wrapLiteral(92, inClass);
      }
      case 'x':
      case 'u': {
        const digits = c === 'x' ? 2 : 4;
        const hex = this.src.slice(this.#pos, this.#pos + digits);
        // Annex B: without its hex digits, \x and \u are the letters x and u.
        if (!new RegExp(`^[0-9a-f]{${digits}}$`, 'i').test(hex)) return wrapLiteral(c.charCodeAt(0), inClass);
        this.#pos += digits;
        return wrapLiteral(parseInt(hex, 16), inClass);
      }
      default: {
        if (c === '0' || (inClass && /[1-7]/.test(c))) {
          // \0, and Annex B's legacy octal escapes (\01, \177; in a class also \1 …): up to three octal digits.
          const octal = /^[0-7]{1,3}/.exec(this.src.slice(this.#pos - 1))![0];
          const value = parseInt(octal, 8);
          const used = value > 0o377 ? octal.slice(0, 2) : octal;
          this.#pos += used.length - 1;
          return wrapLiteral(parseInt(used, 8), inClass);
        }
        if (/[1-7]/.test(c)) throw new LinearRegexError('backreferences (\\1 …) are not supported in filters');
        if (c === 'k' && this.src[this.#pos] === '<') throw new LinearRegexError('backreferences (\\k<name>) are not supported in filters');
        // Escaped punctuation (\. \/ \? …) and any other escaped character stand for themselves.
        return wrapLiteral(c.charCodeAt(0), inClass);
      }
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
      if (this.src[this.#pos] === '-' && this.src[this.#pos + 1] !== ']' && this.#pos + 1 < this.src.length) {
        this.#pos++;
        const high = this.#classAtom();
        if (typeof low === 'number' && typeof high === 'number') {
          if (high < low) throw new LinearRegexError('range out of order in a character class');
          parts.push(caseless((code) => code >= low && code <= high));
        } else {
          // Annex B: a "range" with \d, \w or \s at an end is that set, a hyphen and the other end.
          parts.push(member(low), (code) => code === 45, member(high));
        }
      } else {
        parts.push(member(low));
      }
    }
    const any: CharTest = (code) => parts.some((part) => part(code));
    const test: CharTest = negated ? (code) => !any(code) : any;
    // URLs are mostly ASCII: answer those from a table built once.
    const ascii = Uint8Array.from({ length: 128 }, (_, code) => (test(code) ? 1 : 0));
    // Other units are remembered as they come: a caseless test of a large class is slow, and texts repeat units.
    const seenUnits = new Map<number, boolean>();
    return (code) => {
      if (code < 128) return ascii[code] === 1;
      let answer = seenUnits.get(code);
      if (answer === undefined) {
        answer = test(code);
        if (seenUnits.size < 4096) seenUnits.set(code, answer);
      }
      return answer;
    };
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

/**
 * ECMA-262 Canonicalize for a case-insensitive, non-unicode RegExp: the code unit's upper-case form when that is a
 * single code unit, except that a non-ASCII unit never maps into ASCII (so "ſ" stays apart from "S").
 */
function canonicalize(code: number): number {
  if (code < 128) return code >= 97 && code <= 122 ? code - 32 : code;
  const upper = String.fromCharCode(code).toUpperCase();
  if (upper.length !== 1) return code;
  const mapped = upper.charCodeAt(0);
  return mapped < 128 ? code : mapped;
}

let preimages: Map<number, number[]> | null = null;

/** Every code unit whose canonical form is `canon` (built once, on the first case-insensitive class test). */
function sameCase(canon: number): readonly number[] {
  if (preimages === null) {
    preimages = new Map();
    for (let code = 0; code <= 0xffff; code++) {
      const c = canonicalize(code);
      const list = preimages.get(c);
      if (list) list.push(code);
      else preimages.set(c, [code]);
    }
  }
  return preimages.get(canon) ?? [canon];
}

/** A class member tested as RegExp's `i` flag does: some unit of the same canonical form is a member. */
function caseless(test: CharTest): CharTest {
  return (code) => {
    if (test(code)) return true;
    const canon = canonicalize(code);
    // ASCII letters have exactly two forms; no other unit canonicalizes to one.
    if (code < 128) return canon !== code ? test(canon) : (code >= 65 && code <= 90 ? test(code + 32) : false);
    return sameCase(canon).some((other) => other !== code && test(other));
  };
}

/** A class member: a code unit (case-insensitive) or a set such as \d. */
function member(atom: number | CharTest): CharTest {
  return typeof atom === 'number' ? caseless((code) => code === atom) : atom;
}

function literal(code: number): Node {
  const canon = canonicalize(code);
  return { kind: 'char', test: (c) => c === code || canonicalize(c) === canon };
}

function wrap(test: CharTest, inClass: boolean): Node | CharTest {
  return inClass ? test : { kind: 'char', test };
}

function wrapLiteral(code: number, inClass: boolean): Node | CharTest {
  if (!inClass) return literal(code);
  // In a class the unit stays as written: ranges compare it, and member() matches it caselessly.
  return Object.assign((c: number) => c === code, { literal: code });
}

function emit(node: Node, program: Instruction[], budget: { emits: number }): void {
  if (program.length > MAX_PROGRAM || ++budget.emits > MAX_EMITS) throw new LinearRegexError('the pattern is too large for a filter (its repetitions expand too far)');
  switch (node.kind) {
    case 'char':
      program.push({ op: 'char', test: node.test });
      return;
    case 'assert':
      program.push({ op: 'assert', kind: node.which });
      return;
    case 'seq':
      for (const item of node.items) emit(item, program, budget);
      return;
    case 'alt': {
      // split L1, L2 / L1: a; jump end / L2: b …
      const jumps: Array<{ op: 'jump'; to: number }> = [];
      node.options.forEach((option, i) => {
        if (i < node.options.length - 1) {
          const split: Instruction = { op: 'split', a: program.length + 1, b: -1 };
          program.push(split);
          emit(option, program, budget);
          const jump = { op: 'jump' as const, to: -1 };
          program.push(jump);
          jumps.push(jump);
          split.b = program.length;
        } else emit(option, program, budget);
      });
      for (const jump of jumps) jump.to = program.length;
      return;
    }
    case 'repeat': {
      for (let i = 0; i < node.min; i++) emit(node.item, program, budget);
      if (node.max === null) {
        // L: split body, end / body; jump L
        const loop = program.length;
        const split: Instruction = { op: 'split', a: loop + 1, b: -1 };
        program.push(split);
        emit(node.item, program, budget);
        program.push({ op: 'jump', to: loop });
        split.b = program.length;
        return;
      }
      const skips: Array<Extract<Instruction, { op: 'split' }>> = [];
      for (let i = node.min; i < node.max; i++) {
        const split: Instruction = { op: 'split', a: program.length + 1, b: -1 };
        program.push(split);
        skips.push(split);
        emit(node.item, program, budget);
      }
      for (const split of skips) split.b = program.length;
      return;
    }
  }
}

/** The Pike VM: the set of instructions alive at each position, each at most once. */
function run(program: Instruction[], text: string): boolean {
  const n = text.length;
  const seen = new Int32Array(program.length).fill(-1);
  let current: number[] = [];
  let next: number[] = [];
  const stack: number[] = [];
  let steps = 0;
  const budget = Math.max(MIN_STEPS, STEPS_PER_CHAR * (n + 1));

  const wordAt = (i: number): boolean => i >= 0 && i < n && isWord(text.charCodeAt(i));
  /** Follows the instructions that consume nothing from `pc` at position `pos`; true when one reaches a match. */
  const add = (list: number[], start: number, pos: number): boolean => {
    stack.push(start);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (seen[pc] === pos) continue;
      seen[pc] = pos;
      steps++;
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
    if (add(current, 0, pos)) return true;
    if (pos === n || current.length === 0) {
      if (pos === n) break;
      continue;
    }
    if (steps > budget) return false;
    const code = text.charCodeAt(pos);
    next.length = 0;
    for (const pc of current) {
      const ins = program[pc] as Extract<Instruction, { op: 'char' }>;
      if (ins.test(code) && add(next, pc + 1, pos + 1)) return true;
    }
    [current, next] = [next, current];
    next.length = 0;
  }
  return false;
}
