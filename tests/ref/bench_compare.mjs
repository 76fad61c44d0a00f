#!/usr/bin/env node
// Side-by-side speed: Quarry vs llama.cpp (node-llama-cpp@3.21.1, CPU build) on
// the same GGUF files in the same run, alternating, 2 threads each.
//   node bench_compare.mjs --bin BUILD_DIR --model F16.gguf [--model Q8_0.gguf ...]
//        [--threads 2] [--prompt 512] [--gen 128] [--rounds 2]
// Prints prompt tok/s, generation tok/s at batch 1 and aggregate decode tok/s with 8
// sequences for each, the ratios Quarry / llama.cpp (best of the rounds for each
// side), and Quarry's own figures: the decode bound from the measured read
// bandwidth, time to first token with a cold and a warm prefix cache, peak RSS.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const a = { bin: null, models: [], threads: 2, prompt: 512, gen: 128, rounds: 2 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i], v = process.argv[++i];
  if (k === "--bin") a.bin = v;
  else if (k === "--model") a.models.push(v);
  else if (k === "--threads") a.threads = Number(v);
  else if (k === "--prompt") a.prompt = Number(v);
  else if (k === "--gen") a.gen = Number(v);
  else if (k === "--rounds") a.rounds = Number(v);
  else { console.error(`bench_compare: unknown option ${k}`); process.exit(2); }
}
if (!a.bin || !a.models.length) { console.error("usage: node bench_compare.mjs --bin BUILD_DIR --model FILE..."); process.exit(2); }

function quarry(model) {
  const out = execFileSync(path.join(a.bin, "quarry"), ["bench", "--model", model, "--threads", String(a.threads),
    "--prompt", String(a.prompt), "--gen", String(a.gen), "--reps", "2", "--json"], { encoding: "utf8" });
  const j = JSON.parse(out.trim().split("\n").pop());
  const bd = j.batch_decode_tok_s;
  return { pp: j.prompt_tok_s, tg: j.decode_tok_s, b1: bd["1"], b8: bd["8"], j };
}
// llama.cpp in Quarry's conditions: decode right after the --prompt tokens
// (quarry bench decodes after its prompt, so llama's tg runs at that depth),
// and 8 sequences of the same short prompt and step count as Quarry's
// batched runs (batch_prompt_tokens, batch_steps in its JSON).
function llama(model, q) {
  const run = (tests, depth, gen, seqs) => {
    const out = execFileSync("node", [path.join(here, "llama_bench.mjs"), "--model", model, "--threads", String(a.threads),
      "--prompt", String(a.prompt), "--gen", String(gen), "--depth", String(depth), "--tests", tests,
      "--sequences", String(seqs), "--reps", "2", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return JSON.parse(out.trim().split("\n").pop()).results;
  };
  const r1 = run("pp,tg", a.prompt, a.gen, 8);
  const r2 = run("par", q.j.batch_prompt_tokens, q.j.batch_steps, 8);
  const pick = (r, pre) => r[Object.keys(r).find((k) => k.startsWith(pre))].bestTokPerSec;
  return { pp: pick(r1, `pp${a.prompt}`), tg: pick(r1, `tg${a.gen}`), b8: pick(r2, "par8") };
}

const rows = [];
for (const model of a.models) {
  const best = { q: { pp: 0, tg: 0, b8: 0 }, l: { pp: 0, tg: 0, b8: 0 } };
  for (let r = 0; r < a.rounds; r++) {
    const q = quarry(model), l = llama(model, q);
    for (const [side, x] of [["q", q], ["l", l]]) {
      best[side].pp = Math.max(best[side].pp, x.pp);
      best[side].tg = Math.max(best[side].tg, x.tg);
      best[side].b8 = Math.max(best[side].b8, x.b8);
    }
    best.q.b1 = Math.max(best.q.b1 || 0, q.b1);
    best.qj = q.j;
  }
  rows.push({ model: path.basename(model), ...best });
}
const f = (x) => x.toFixed(1).padStart(8);
console.log(`threads ${a.threads}, prompt ${a.prompt} tokens, then ${a.gen} decode steps (tg); 8 sequences: ${rows[0] && rows[0].qj ? rows[0].qj.batch_steps : "?"} steps after ${rows[0] && rows[0].qj ? rows[0].qj.batch_prompt_tokens : "?"}-token prompts (b8); F16 KV both sides; best of ${a.rounds} alternating rounds`);
console.log(`${"model".padEnd(24)} ${"quarry pp".padStart(10)} ${"llama pp".padStart(10)} ${"ratio".padStart(6)}  ${"quarry tg".padStart(10)} ${"llama tg".padStart(10)} ${"ratio".padStart(6)}  ${"quarry b8".padStart(10)} ${"llama b8".padStart(10)} ${"ratio".padStart(6)}`);
for (const r of rows)
  console.log(`${r.model.padEnd(24)} ${f(r.q.pp)}   ${f(r.l.pp)}   ${(r.q.pp / r.l.pp).toFixed(2).padStart(5)}  ${f(r.q.tg)}   ${f(r.l.tg)}   ${(r.q.tg / r.l.tg).toFixed(2).padStart(5)}  ${f(r.q.b8)}   ${f(r.l.b8)}   ${(r.q.b8 / r.l.b8).toFixed(2).padStart(5)}`);
console.log("quarry's own: decode bound from read bandwidth, batch-8 vs batch-1, first token cold vs warm prefix, peak RSS");
for (const r of rows) {
  const j = r.qj;
  if (!j) continue;
  console.log(`${r.model.padEnd(24)} bandwidth ${j.read_bandwidth_gb_s.toFixed(1)} GB/s -> bound ${j.decode_bound_tok_s.toFixed(1)} tok/s ` +
    `(decode at ${(100 * r.q.tg / j.decode_bound_tok_s).toFixed(0)}%); batch8/batch1 ${(r.q.b8 / r.q.b1).toFixed(2)}x (${r.q.b8.toFixed(1)} / ${r.q.b1.toFixed(1)}); ` +
    `ttft ${j.ttft_cold_ms.toFixed(0)} ms cold, ${j.ttft_warm_ms.toFixed(0)} ms warm (${(j.ttft_cold_ms / j.ttft_warm_ms).toFixed(1)}x); ` +
    `8 sequences after a 1500-token shared prefix + 300 own ${(j.shared_prefix_decode_tok_s || 0).toFixed(1)} tok/s; ` +
    `peak RSS ${j.peak_rss_mib.toFixed(0)} MiB (model ${j.model_mib.toFixed(0)} MiB)`);
}
// The targets of the throughput issue, each with the figure that meets or
// misses it.
console.log("targets (met / MISSED):");
const mark = (ok) => (ok ? "met   " : "MISSED");
for (const r of rows) {
  const j = r.qj;
  if (!j) continue;
  const pp = r.q.pp / r.l.pp, tg = r.q.tg / r.l.tg, bound = j.decode_bound_tok_s;
  const tgOk = tg >= 1.5 || (bound > 0 && r.q.tg >= 0.85 * bound);
  const b1 = r.q.b8 / r.q.b1, bl = r.q.b8 / r.l.b8, warm = j.ttft_cold_ms / j.ttft_warm_ms;
  const rssLim = (j.model_mib + (j.kv_budget_mib || 0)) * 1.15;
  console.log(`${r.model}`);
  console.log(`  ${mark(pp >= 1.5)} prompt >= 1.5x llama.cpp: ${pp.toFixed(2)}x`);
  console.log(`  ${mark(tgOk)} decode >= 1.5x llama.cpp (${tg.toFixed(2)}x) or >= 85% of the bound (${(100 * r.q.tg / bound).toFixed(0)}%)`);
  console.log(`  ${mark(b1 >= 4)} batch 8 >= 4x our batch 1: ${b1.toFixed(2)}x`);
  console.log(`  ${mark(bl >= 4)} batch 8 >= 4x llama.cpp's 8 sequences: ${bl.toFixed(2)}x`);
  console.log(`  ${mark(warm >= 4)} warm first token >= 4x faster than cold: ${warm.toFixed(1)}x`);
  console.log(`  ${mark(j.peak_rss_mib <= rssLim)} peak RSS <= file + KV budget + 15%: ${j.peak_rss_mib.toFixed(0)} <= ${rssLim.toFixed(0)} MiB`);
}
