// gen_unicode_tables.mjs - derives the "late Unicode" tables of
// engine/tokenizer.c: what the reference (Node's ICU, Unicode 17 in Node
// 20.20) knows and this build's PCRE2 / utf8proc do not.
//
//   node gen_unicode_tables.mjs PROBE_BIN            prints the C block
//   node gen_unicode_tables.mjs PROBE_BIN --check engine/tokenizer.c
//
// PROBE_BIN is tests/tokenizer/unicode_probe.c built (tok_unicode_probe).
// --check does not demand equality (a newer PCRE2 or utf8proc needs fewer
// extras; extra entries stay correct); it fails, naming what to regenerate,
// if the embedded tables would make the tokenizer disagree with the
// reference for some code point:
//   - \p{L} / \p{N}: PCRE2's class plus the embedded ranges must equal the
//     reference's class, code point by code point;
//   - \s: the pattern's explicit whitespace set must equal JavaScript's;
//   - NFC: every character utf8proc lacks that has a combining class or a
//     canonical composition in the reference must be in the tables with
//     the reference's values, and every table entry must be right.
import { spawnSync } from "child_process";
import fs from "fs";

const [probeBin, flag, srcPath] = process.argv.slice(2);
if (!probeBin) { console.error("usage: gen_unicode_tables.mjs PROBE_BIN [--check tokenizer.c]"); process.exit(2); }
const pr = spawnSync(probeBin, [], { maxBuffer: 1 << 26 });
if (pr.status !== 0) { console.error(`${probeBin} failed`); process.exit(1); }
const probe = pr.stdout.toString().trim().split("\n").map((l) => l.split(" "));

const MAXCP = 0x10ffff;
const S = (...c) => String.fromCodePoint(...c);
const isSur = (c) => c >= 0xd800 && c <= 0xdfff;
const bits = (ranges) => {
  const b = new Uint8Array(MAXCP + 1);
  for (const [lo, hi] of ranges) for (let c = lo; c <= hi; c++) b[c] = 1;
  return b;
};
const probeRanges = (tag) => probe.filter((x) => x[0] === tag).map((x) => [parseInt(x[1], 16), parseInt(x[2], 16)]);
const pcreL = bits(probeRanges("L")), pcreN = bits(probeRanges("N")), u8cn = bits(probeRanges("CN"));
const cccRefs = probe.filter((x) => x[0] === "CCC").map((x) => [+x[1], parseInt(x[2], 16)]);
const versions = (probe.find((x) => x[0] === "V") || []).slice(1).join(" ");

const reL = /^\p{L}$/u, reN = /^\p{N}$/u, reS = /^\s$/u, reAssigned = /^\P{Cn}$/u;
const jsL = new Uint8Array(MAXCP + 1), jsN = new Uint8Array(MAXCP + 1), jsS = [];
for (let c = 0; c <= MAXCP; c++) {
  if (isSur(c)) continue;
  const s = S(c);
  if (reL.test(s)) jsL[c] = 1;
  if (reN.test(s)) jsN[c] = 1;
  if (reS.test(s)) jsS.push(c);
}
const toRanges = (pred) => {
  const r = [];
  for (let c = 0; c <= MAXCP; c++) {
    if (!pred(c)) continue;
    if (r.length && r[r.length - 1][1] === c - 1) r[r.length - 1][1] = c;
    else r.push([c, c]);
  }
  return r;
};
const extraL = toRanges((c) => jsL[c] && !pcreL[c]);
const extraN = toRanges((c) => jsN[c] && !pcreN[c]);
const lostL = toRanges((c) => pcreL[c] && !jsL[c]);
const lostN = toRanges((c) => pcreN[c] && !jsN[c]);

// Combining class of a character in the reference, found by how NFD orders
// it against marks of known class (utf8proc's, via the probe).
function refCcc(c) {
  const s = S(c);
  if (s.normalize("NFD") !== s) return null;   // decomposes: not a plain mark
  const after = [], before = [], equal = [];
  for (const [k, m] of cccRefs) {
    const a = s + S(m), b = S(m) + s;
    const ra = a.normalize("NFD") !== a, rb = b.normalize("NFD") !== b;
    if (ra) after.push(k);        // c moves after m: ccc(c) > k
    else if (rb) before.push(k);  // m moves after c: ccc(c) < k
    else equal.push(k);
  }
  if (!after.length && !before.length) return 0;   // a starter never moves
  if (equal.length === 1) return equal[0];
  throw new Error(`U+${c.toString(16)}: combining class not among utf8proc's classes; extend the probe`);
}

// Characters the reference has and utf8proc lacks.
const lateCcc = [], lateComp = [];
for (let c = 0x300; c <= MAXCP; c++) {
  if (isSur(c) || !u8cn[c] || !reAssigned.test(S(c))) continue;
  const s = S(c), d = s.normalize("NFD");
  if (d !== s) {
    if (s.normalize("NFC") !== s) throw new Error(`U+${c.toString(16)} is a new composition exclusion: not supported`);
    const cps = [...d].map((x) => x.codePointAt(0));
    const first = S(...cps.slice(0, -1)).normalize("NFC");
    if ([...first].length !== 1) throw new Error(`U+${c.toString(16)}: unexpected decomposition`);
    lateComp.push([first.codePointAt(0), cps[cps.length - 1], c]);
    continue;
  }
  const k = refCcc(c);
  if (k) lateCcc.push([c, k]);
}
const cccRanges = [];
for (const [c, k] of lateCcc) {
  const last = cccRanges[cccRanges.length - 1];
  if (last && last[1] === c - 1 && last[2] === k) last[1] = c;
  else cccRanges.push([c, c, k]);
}

const hex = (c) => c.toString(16).toUpperCase();
function classText(ranges) {
  const items = ranges.map(([a, b]) => (a === b ? `\\\\x{${hex(a)}}` : `\\\\x{${hex(a)}}-\\\\x{${hex(b)}}`));
  const lines = [];
  let cur = "";
  for (const it of items) {
    if (cur.length + it.length > 84) { lines.push(cur); cur = ""; }
    cur += it;
  }
  if (cur) lines.push(cur);
  return lines.map((l) => `    "${l}"`).join(" \\\n");
}

if (flag !== "--check") {
  const wsNote = jsS.map(hex).join(" ");
  let out = "";
  out += `/* BEGIN GENERATED by tests/tokenizer/gen_unicode_tables.mjs\n`;
  out += ` * Reference: Node ${process.versions.node}, ICU ${process.versions.icu}, Unicode ${process.versions.unicode};\n`;
  out += ` * this build: ${versions}. */\n\n`;
  out += `/* \\p{L} / \\p{N} code points the reference knows and PCRE2 does not. */\n`;
  out += `#define TOK_LATE_L \\\n${classText(extraL)}\n`;
  out += `#define TOK_LATE_N \\\n${classText(extraN)}\n\n`;
  out += `/* Canonical combining classes of marks utf8proc does not know. */\n`;
  out += `static const struct { uint32_t lo, hi; uint8_t ccc; } tok_late_ccc[] = {\n`;
  out += cccRanges.map(([a, b, k]) => `    {0x${hex(a)}, 0x${hex(b)}, ${k}},`).join("\n") + "\n};\n\n";
  out += `/* Canonical compositions utf8proc does not know: first + second -> cp. */\n`;
  out += `static const struct { uint32_t first, second, cp; } tok_late_comp[] = {\n`;
  out += lateComp.map(([a, b, c]) => `    {0x${hex(a)}, 0x${hex(b)}, 0x${hex(c)}},`).join("\n") + "\n};\n";
  out += `/* END GENERATED */\n`;
  out += `/* JavaScript \\s (spelled out in TOK_WS): ${wsNote} */\n`;
  if (lostL.length || lostN.length) out += `/* WARNING: PCRE2 has L/N the reference lacks: ${JSON.stringify([lostL, lostN])} */\n`;
  process.stdout.write(out);
  process.exit(0);
}

// ------------------------------------------------------------------ check
const src = fs.readFileSync(srcPath, "utf8");
const problems = [];
const macro = (name) => {
  const m = src.match(new RegExp(`#define ${name} \\\\\\n((?:\\s*"[^"]*"\\s*\\\\?\\n)+)`));
  if (!m) { problems.push(`${name} not found`); return []; }
  const r = [];
  for (const x of m[1].matchAll(/\\\\x\{([0-9A-Fa-f]+)\}(?:-\\\\x\{([0-9A-Fa-f]+)\})?/g))
    r.push([parseInt(x[1], 16), parseInt(x[2] ?? x[1], 16)]);
  return r;
};
const embL = bits(macro("TOK_LATE_L")), embN = bits(macro("TOK_LATE_N"));
let badL = 0, badN = 0;
for (let c = 0; c <= MAXCP; c++) {
  if (isSur(c)) continue;
  if (jsL[c] !== (pcreL[c] | embL[c])) { if (badL++ < 5) problems.push(`\\p{L} differs at U+${hex(c)} (reference ${jsL[c]})`); }
  if (jsN[c] !== (pcreN[c] | embN[c])) { if (badN++ < 5) problems.push(`\\p{N} differs at U+${hex(c)} (reference ${jsN[c]})`); }
}
// The whitespace set written out in the pattern.
const ws = src.match(/#define TOK_WS ((?:"[^"]*"\s*\\?\s*)+)/);
if (!ws) problems.push("TOK_WS not found");
else {
  const text = [...ws[1].matchAll(/"([^"]*)"/g)].map((x) => x[1]).join("");
  const set = new Set();
  const esc = { t: 9, n: 10, f: 12, r: 13 };
  for (const x of text.matchAll(/\\\\x\{([0-9A-Fa-f]+)\}(?:-\\\\x\{([0-9A-Fa-f]+)\})?|\\\\([tnfr])|( )/g)) {
    if (x[3]) set.add(esc[x[3]]);
    else if (x[4]) set.add(32);
    else for (let c = parseInt(x[1], 16); c <= parseInt(x[2] ?? x[1], 16); c++) set.add(c);
  }
  const want = new Set(jsS);
  for (const c of want) if (!set.has(c)) problems.push(`TOK_WS lacks U+${hex(c)}`);
  for (const c of set) if (!want.has(c)) problems.push(`TOK_WS has U+${hex(c)}, which JavaScript's \\s lacks`);
}
// NFC tables.
const cccBody = src.match(/tok_late_ccc\[\] = \{([\s\S]*?)\};/), compBody = src.match(/tok_late_comp\[\] = \{([\s\S]*?)\};/);
const embCcc = new Map(), embComp = new Map();
if (!cccBody || !compBody) problems.push("tok_late_ccc / tok_late_comp not found");
else {
  for (const x of cccBody[1].matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+), (\d+)\}/gi))
    for (let c = parseInt(x[1], 16); c <= parseInt(x[2], 16); c++) embCcc.set(c, +x[3]);
  for (const x of compBody[1].matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+), 0x([0-9A-F]+)\}/gi))
    embComp.set(`${parseInt(x[1], 16)},${parseInt(x[2], 16)}`, parseInt(x[3], 16));
}
for (const [c, k] of lateCcc) if (embCcc.get(c) !== k) problems.push(`tok_late_ccc: U+${hex(c)} should be ${k}, is ${embCcc.get(c)}`);
for (const [c, k] of embCcc) {
  const r = refCcc(c);
  if (r !== k) problems.push(`tok_late_ccc: U+${hex(c)} is ${k}, the reference says ${r}`);
}
for (const [a, b, c] of lateComp) if (embComp.get(`${a},${b}`) !== c) problems.push(`tok_late_comp lacks U+${hex(a)} + U+${hex(b)} -> U+${hex(c)}`);
for (const [key, c] of embComp) {
  const [a, b] = key.split(",").map(Number);
  if ((S(a) + S(b)).normalize("NFC") !== S(c)) problems.push(`tok_late_comp: U+${hex(a)} + U+${hex(b)} does not compose to U+${hex(c)}`);
}
if (problems.length) {
  console.error(`unicode tables: ${problems.length} problem(s) (Node ${process.versions.node}, ICU ${process.versions.icu}; ${versions}):`);
  for (const p of problems.slice(0, 40)) console.error("  " + p);
  console.error("Regenerate: node tests/tokenizer/gen_unicode_tables.mjs build/tests/tok_unicode_probe, and paste the block into engine/tokenizer.c");
  process.exit(1);
}
console.log(`unicode tables: consistent with the reference (Node ${process.versions.node}, ICU ${process.versions.icu}, Unicode ${process.versions.unicode}; ${versions}); ` +
  `${extraL.length}+${extraN.length} class ranges, ${lateCcc.length} marks, ${lateComp.length} compositions needed`);
