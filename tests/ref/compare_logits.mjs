#!/usr/bin/env node
// Compare a candidate logits file against a llama.cpp reference (from llama_logits.mjs).
//
//   node compare_logits.mjs REF.f32 OURS.f32 [--tol 1e-3] [--floor -30] [--vocab N]
//        [--require-argmax] [--json] [--quiet]
//
// Both files are float32 little-endian. REF holds log(p/pmax) (may contain -Infinity);
// OURS may hold raw logits (quarry generate --logits-out) or log ratios: every row of
// both files has its own maximum subtracted first, so both become logit - max(logit).
// Entries compared: those whose REFERENCE value is > --floor (default -30, i.e. p/pmax > 9.4e-14);
// below that the reference's float32 softmax loses precision and eventually underflows to -inf.
// A non-finite candidate value in a compared entry counts as an infinite difference.
//
// Multi-row files (llama_logits.mjs --all-positions, or several decode steps) need --vocab N;
// without it each file is one row. If REF has more rows than OURS, only the LAST rows of REF
// are used (so a single-row candidate can be compared with an all-positions reference).
//
// Prints max |Δ| (and where), mean |Δ|, argmax of each, count compared; exit status:
//   0 = max |Δ| <= tol (and argmax equal if --require-argmax), 1 = over tolerance / argmax
//   mismatch, 2 = usage or file error.

import fs from "node:fs";

function usage(msg) {
    if (msg) process.stderr.write(`compare_logits: ${msg}\n`);
    process.stderr.write("usage: node compare_logits.mjs REF.f32 OURS.f32 [--tol 1e-3] [--floor -30] [--vocab N] [--require-argmax] [--json] [--quiet]\n");
    process.exit(2);
}

const a = { files: [], tol: 1e-3, floor: -30, vocab: 0, requireArgmax: false, json: false, quiet: false };
{
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => { if (i + 1 >= argv.length) usage(`missing value for ${k}`); return argv[++i]; };
        switch (k) {
            case "--tol": a.tol = Number(v()); break;
            case "--floor": a.floor = Number(v()); break;
            case "--vocab": a.vocab = parseInt(v(), 10); break;
            case "--require-argmax": a.requireArgmax = true; break;
            case "--json": a.json = true; break;
            case "--quiet": a.quiet = true; break;
            case "-h": case "--help": usage();
            default:
                if (k.startsWith("--")) usage(`unknown option ${k}`);
                a.files.push(k);
        }
    }
    if (a.files.length !== 2) usage("need exactly two files: REF OURS");
    if (!Number.isFinite(a.tol) || a.tol < 0) usage("bad --tol");
    if (!Number.isFinite(a.floor)) usage("bad --floor");
}

function readF32(file) {
    let buf;
    try { buf = fs.readFileSync(file); } catch (e) { usage(`cannot read ${file}: ${e.message}`); }
    if (buf.length % 4 !== 0 || buf.length === 0) usage(`${file}: size ${buf.length} is not a non-zero multiple of 4`);
    const n = buf.length / 4;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
    return out;
}

function normalizeRow(x) { // subtract the row max (NaN-safe); returns Float64Array
    let m = -Infinity;
    for (const v of x) if (v > m) m = v;
    const out = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] - m;
    return out;
}

function argmaxOf(x) {
    let j = 0;
    for (let i = 1; i < x.length; i++) if (x[i] > x[j] || Number.isNaN(x[j])) j = i;
    return j;
}

const ref = readF32(a.files[0]);
const ours = readF32(a.files[1]);
const V = a.vocab > 0 ? a.vocab : ours.length;
if (ref.length % V !== 0 || ours.length % V !== 0)
    usage(`file sizes (${ref.length}, ${ours.length} floats) are not multiples of the vocabulary size ${V}` +
        (a.vocab > 0 ? "" : " (use --vocab N for multi-row files)"));
const refRows = ref.length / V, ourRows = ours.length / V;
if (ourRows > refRows) usage(`candidate has more rows (${ourRows}) than the reference (${refRows})`);

const rows = [];
let worst = 0, fail = false, totalCompared = 0;
for (let r = 0; r < ourRows; r++) {
    const rr = refRows - ourRows + r;
    const R = normalizeRow(ref.subarray(rr * V, (rr + 1) * V));
    const O = normalizeRow(ours.subarray(r * V, (r + 1) * V));
    let maxd = 0, maxAt = -1, sum = 0, n = 0;
    for (let i = 0; i < V; i++) {
        if (!(R[i] > a.floor)) continue; // also skips NaN / -inf reference entries
        const d = Number.isFinite(O[i]) ? Math.abs(O[i] - R[i]) : Infinity;
        n++; sum += d;
        if (d > maxd || maxAt < 0) { maxd = d; maxAt = i; }
    }
    const ra = argmaxOf(R), oa = argmaxOf(O);
    // reference margin between the best and second-best token (ties make argmax meaningless)
    let second = -Infinity;
    for (let i = 0; i < V; i++) if (i !== ra && R[i] > second) second = R[i];
    const row = {
        row: r, refRow: rr, compared: n, maxAbsDiff: maxd, maxAt, refAtMax: maxAt >= 0 ? R[maxAt] : null,
        oursAtMax: maxAt >= 0 ? O[maxAt] : null, meanAbsDiff: n ? sum / n : 0,
        refArgmax: ra, oursArgmax: oa, refMargin: R[ra] - second,
    };
    rows.push(row);
    totalCompared += n;
    if (n === 0) fail = true;
    if (!(maxd <= a.tol)) fail = true;
    if (a.requireArgmax && ra !== oa) fail = true;
    if (maxd > worst || Number.isNaN(maxd)) worst = maxd;
}

const summary = {
    ok: !fail, tol: a.tol, floor: a.floor, vocab: V, rows: ourRows, compared: totalCompared,
    maxAbsDiff: worst, argmaxMismatches: rows.filter((x) => x.refArgmax !== x.oursArgmax).length,
};

if (a.json) {
    process.stdout.write(JSON.stringify({ ...summary, perRow: rows }) + "\n");
} else {
    const fmt = (x) => (x == null ? "-" : Number.isFinite(x) ? x.toExponential(3) : String(x));
    if (!a.quiet || fail) {
        for (const x of rows) {
            if (a.quiet && x.maxAbsDiff <= a.tol && !(a.requireArgmax && x.refArgmax !== x.oursArgmax)) continue;
            process.stdout.write(
                (ourRows > 1 ? `row ${x.row} (ref row ${x.refRow}): ` : "") +
                `compared=${x.compared}/${V} (ref log p/pmax > ${a.floor}) max|Δ|=${fmt(x.maxAbsDiff)} at token ${x.maxAt} ` +
                `(ref ${fmt(x.refAtMax)}, ours ${fmt(x.oursAtMax)}) mean|Δ|=${fmt(x.meanAbsDiff)} ` +
                `argmax ref=${x.refArgmax} ours=${x.oursArgmax}${x.refArgmax !== x.oursArgmax ? " MISMATCH" : ""} ` +
                `ref top1-top2 margin=${fmt(x.refMargin)}\n`);
        }
    }
    process.stdout.write(`${summary.ok ? "OK" : "FAIL"}: max|Δ|=${fmt(worst)} tol=${a.tol} rows=${ourRows} compared=${totalCompared} ` +
        `argmax mismatches=${summary.argmaxMismatches}\n`);
}
process.exit(fail ? 1 : 0);
