#!/usr/bin/env node
// llama.cpp (node-llama-cpp prebuilt CPU build) speed reference.
//
//   node llama_bench.mjs --model FILE [--threads 2] [--prompt 512] [--gen 128] [--sequences 8]
//        [--reps 3] [--warmup 1] [--seed 1234] [--depth 0] [--flash-attention auto|on|off]
//        [--batching lockstep|nextcycle] [--tests pp,tg,par] [--wait-idle SECONDS] [--json]
//
// pp : prompt processing tok/s, one sequence, a --prompt token prompt of random ids (< 151643,
//      seeded) evaluated from an empty KV cache in one llama_decode (batch = ubatch = 512 by
//      default, logits for the last token only, like llama-bench's pp512).
// tg : generation tok/s at batch 1: --gen single-token decodes + greedy sampling, starting
//      from --depth cached tokens (default 0, like llama-bench's tg128); EOS never stops it.
// par: aggregate decode tok/s with --sequences sequences (one context, `sequences: N`, each
//      with its own KV cells) generating --gen tokens each at the same time (Promise.all).
//      --batching lockstep (default): every step all N sequences submit one token in the same
//      tick (controlledEvaluate), so each llama_decode holds exactly N tokens, one per
//      sequence, like llama-batched-bench. --batching nextcycle: N free-running
//      sequence.evaluate() generators, batched by node-llama-cpp's default scheduler; in
//      practice batches of N-1 with a straggler (~15% more decodes).
// Everything else is llama.cpp's default: F16 K/V cache, flash attention "auto"
// (llama.cpp resolves it; "enabled" with this CPU build), mmap, Q8_0 weights repacked
// (CPU_REPACK). Unlike llama-bench, node-llama-cpp attaches no ggml threadpool, so every
// llama_decode spawns threads-1 fresh worker threads; timings include the JS wrapper
// (~0.1-1 ms per step) and greedy sampling over the full vocabulary. Each test: --warmup untimed runs, then --reps timed
// runs; the table reports the median and the best.
//
// Noise: the CPU time other processes used during each timed run is measured (/proc/stat minus
// our own usage) and reported in cores ("other" column, JSON foreignCpuCores). With 2 threads on
// 2 cores, ggml's spin barriers make llama.cpp collapse (10x slower and worse) when anything
// else runs; --wait-idle S waits up to S seconds before each timed run for a 1 s window in which
// other processes use < 0.1 core. Treat runs with "other" > ~0.1 as invalid.
// QB_DEBUG=1 in the environment echoes all llama.cpp log lines to stderr.

import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(msg) {
    if (msg) process.stderr.write(`llama_bench: ${msg}\n`);
    process.stderr.write(
        "usage: node llama_bench.mjs --model FILE [--threads 2] [--prompt 512] [--gen 128] [--sequences 8]\n" +
        "       [--reps 3] [--warmup 1] [--seed 1234] [--depth 0] [--flash-attention auto|on|off]\n" +
        "       [--batching lockstep|nextcycle] [--tests pp,tg,par] [--wait-idle SECONDS] [--json]\n");
    process.exit(2);
}

const a = {
    model: null, threads: 2, prompt: 512, gen: 128, sequences: 8, reps: 3, warmup: 1, seed: 1234, depth: 0,
    fa: "auto", batching: "lockstep", tests: ["pp", "tg", "par"], json: false, waitIdle: 0,
};
{
    const argv = process.argv.slice(2);
    const int = (s, k) => { const x = Number(s); if (!Number.isInteger(x) || x < 0) usage(`bad ${k}`); return x; };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => { if (i + 1 >= argv.length) usage(`missing value for ${k}`); return argv[++i]; };
        switch (k) {
            case "--model": a.model = v(); break;
            case "--threads": a.threads = int(v(), k); break;
            case "--prompt": a.prompt = int(v(), k); break;
            case "--gen": a.gen = int(v(), k); break;
            case "--sequences": a.sequences = int(v(), k); break;
            case "--reps": a.reps = int(v(), k); break;
            case "--warmup": a.warmup = int(v(), k); break;
            case "--seed": a.seed = int(v(), k); break;
            case "--depth": a.depth = int(v(), k); break;
            case "--flash-attention": a.fa = v(); if (!["auto", "on", "off"].includes(a.fa)) usage("bad --flash-attention"); break;
            case "--batching": a.batching = v(); if (!["lockstep", "nextcycle"].includes(a.batching)) usage("bad --batching"); break;
            case "--tests": a.tests = v().split(",").filter(Boolean); break;
            case "--json": a.json = true; break;
            case "--wait-idle": a.waitIdle = int(v(), k); break;
            case "-h": case "--help": usage();
            default: usage(`unknown argument ${k}`);
        }
    }
    if (!a.model) usage("--model is required");
    if (a.threads < 1 || a.reps < 1 || a.sequences < 1 || a.prompt < 1 || a.gen < 1) usage("values must be >= 1");
    for (const t of a.tests) if (!["pp", "tg", "par"].includes(t)) usage(`unknown test ${t}`);
}

const now = () => Number(process.hrtime.bigint()) / 1e9; // seconds
const log = (s) => process.stderr.write(`llama_bench: ${s}\n`);

// deterministic PRNG (mulberry32)
function rng(seed) {
    let s = seed >>> 0;
    return () => {
        s = (s + 0x6D2B79F5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// CPU time used on the whole machine by OTHER processes, from /proc/stat minus our own
// process.cpuUsage(); expressed in cores (0 = machine otherwise idle). Benchmarks on a 2-core
// machine are only meaningful when this stays near 0: ggml's spinning barriers stall badly
// as soon as another runnable thread takes one of the cores.
import fs from "node:fs";
function cpuSnap() {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.reduce((x, y) => x + y, 0);
    const own = process.cpuUsage();
    return { busy: total - idle, own: (own.user + own.system) / 1e6, t: Number(process.hrtime.bigint()) / 1e9 };
}
const HZ = 100; // USER_HZ (jiffies per second in /proc/stat)
function foreignCores(a, b) {
    const wall = b.t - a.t;
    if (wall <= 0) return 0;
    return Math.max(0, ((b.busy - a.busy) / HZ - (b.own - a.own)) / wall);
}
async function waitIdle(maxSeconds, threshold) {
    const t0 = Date.now();
    for (;;) {
        const s0 = cpuSnap();
        await new Promise((r) => setTimeout(r, 1000));
        const f = foreignCores(s0, cpuSnap());
        if (f <= threshold) return f;
        if ((Date.now() - t0) / 1000 >= maxSeconds) {
            process.stderr.write(`llama_bench: machine still busy (${f.toFixed(2)} foreign cores) after ${maxSeconds}s, measuring anyway\n`);
            return f;
        }
    }
}

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function main() {
    const tStart = now();
    // llama.cpp logs at info level so the resolved flash-attention state can be read;
    // only warnings and errors are forwarded to stderr
    const faLog = [];
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
        logLevel: LlamaLogLevel.info, maxThreads: a.threads,
        logger: (level, msg) => {
            if (process.env.QB_DEBUG) process.stderr.write(`[${level}] ${msg}`);
            const m = /Flash Attention (enabled|disabled)/i.exec(msg);
            if (m) faLog.push(m[1].toLowerCase());
            if (level === LlamaLogLevel.warn || level === LlamaLogLevel.error || level === LlamaLogLevel.fatal)
                process.stderr.write(`llama.cpp ${level}: ${msg.trimEnd()}\n`);
        },
    });
    const tInit = now();
    const model = await llama.loadModel({ modelPath: path.resolve(a.model), gpuLayers: 0 });
    const tLoad = now();

    const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length
        ?? Number(model.fileInfo.tensorInfo.find((x) => x.name === "token_embd.weight").dimensions[1]);
    const maxTok = Math.min(151643, nVocab); // below <|endoftext|>: ordinary tokens only
    const rand = rng(a.seed);
    const randTokens = (n) => Array.from({ length: n }, () => Math.floor(rand() * maxTok));
    const fa = a.fa === "auto" ? "auto" : a.fa === "on";
    const threads = { ideal: a.threads, min: a.threads };
    const info = {
        model: path.basename(a.model), modelBytes: model.size, nVocab, threads: a.threads,
        architecture: model.architecture, trainContext: model.trainContextSize,
        flashAttentionRequested: a.fa, batching: a.batching,
        loadSeconds: +(tLoad - tInit).toFixed(3), initSeconds: +(tInit - tStart).toFixed(3),
        buildType: llama.buildType, cpuMathCores: llama.cpuMathCores, llamaCppRelease: llama.llamaCppRelease?.release,
    };
    const results = {};

    // one token generation loop on a sequence: `gen` decodes of 1 token each, greedy, no EOS stop
    // (steps: optional array receiving the duration of each decode+sample step, seconds)
    async function generate(seq, firstToken, gen, steps) {
        const it = seq.evaluate([firstToken], { temperature: 0, yieldEogToken: true });
        let n = 0, t = now();
        for await (const _ of it) {
            if (steps) { const t2 = now(); steps.push(t2 - t); t = t2; }
            if (++n >= gen) break;
        }
        if (n !== gen) throw new Error(`generated ${n} tokens, expected ${gen}`);
    }

    // runOnce(steps) returns the timed seconds; for generation tests it also fills `steps` with
    // per-step latencies, from which a noise-robust rate is derived:
    // tokensPerStep / median(step latency) over all timed runs
    async function runTest(name, runOnce, tokensPerRun, tokensPerStep) {
        for (let w = 0; w < a.warmup; w++) await runOnce([]);
        const secs = [], steps = [], foreign = [];
        for (let r = 0; r < a.reps; r++) {
            if (a.waitIdle > 0) await waitIdle(a.waitIdle, 0.1);
            const s0 = cpuSnap();
            secs.push(await runOnce(steps));
            foreign.push(foreignCores(s0, cpuSnap()));
        }
        const tps = secs.map((s) => tokensPerRun / s);
        results[name] = {
            tokens: tokensPerRun, seconds: secs.map((s) => +s.toFixed(4)),
            medianTokPerSec: +median(tps).toFixed(2), bestTokPerSec: +Math.max(...tps).toFixed(2),
            foreignCpuCores: foreign.map((x) => +x.toFixed(2)),
            ...(steps.length ? { stepMedianTokPerSec: +(tokensPerStep / median(steps)).toFixed(2),
                stepMaxMs: +(Math.max(...steps) * 1000).toFixed(1), stepMedianMs: +(median(steps) * 1000).toFixed(2) } : {}),
        };
        log(`${name}: ${tps.map((x) => x.toFixed(2)).join(", ")} tok/s; other processes used ` +
            `${foreign.map((x) => x.toFixed(2)).join(", ")} cores` +
            (steps.length ? ` (step median ${(median(steps) * 1000).toFixed(2)} ms, max ${(Math.max(...steps) * 1000).toFixed(1)} ms)` : ""));
    }

    if (a.tests.includes("pp") || a.tests.includes("tg")) {
        const tC = now();
        const ctx = await model.createContext({
            contextSize: Math.max(a.prompt, a.depth + a.gen) + 8, sequences: 1, flashAttention: fa, threads,
            failedCreationRemedy: false, // batch size: the default, min(context, 512) (= n_batch = n_ubatch)
        });
        info.contextSeconds = +(now() - tC).toFixed(3);
        info.flashAttention = ctx.flashAttention;
        info.kvCacheKeyType = ctx.kvCacheKeyType;
        info.batchSize = ctx.batchSize;
        info.contextThreads = ctx.idealThreads;
        const seq = ctx.getSequence();

        if (a.tests.includes("pp")) {
            await runTest(`pp${a.prompt}`, async () => {
                await seq.clearHistory();
                const toks = randTokens(a.prompt);
                const input = toks.map((t, i) => (i === toks.length - 1 ? [t, { generateNext: { token: true } }] : t));
                const t0 = now();
                await seq.controlledEvaluate(input);
                const dt = now() - t0;
                if (seq.nextTokenIndex !== a.prompt) throw new Error(`pp: ${seq.nextTokenIndex} tokens in state`);
                return dt;
            }, a.prompt);
        }
        if (a.tests.includes("tg")) {
            await runTest(`tg${a.gen}` + (a.depth ? `@d${a.depth}` : ""), async (steps) => {
                await seq.clearHistory();
                if (a.depth > 0) await seq.evaluateWithoutGeneratingNewTokens(randTokens(a.depth));
                const t0 = now();
                await generate(seq, randTokens(1)[0], a.gen, steps);
                return now() - t0;
            }, a.gen, 1);
        }
        await ctx.dispose();
    }

    if (a.tests.includes("par")) {
        const N = a.sequences;
        const ctx = await model.createContext({
            contextSize: a.depth + a.gen + 8, sequences: N, flashAttention: fa, threads, failedCreationRemedy: false,
        });
        info.parFlashAttention = ctx.flashAttention;
        info.kvCacheKeyType ??= ctx.kvCacheKeyType;
        info.parBatchSize = ctx.batchSize;
        info.parContextSizePerSeq = ctx.contextSize;
        const seqs = Array.from({ length: N }, () => ctx.getSequence());
        await runTest(`par${N}x${a.gen}` + (a.depth ? `@d${a.depth}` : ""), async (steps) => {
            for (const s of seqs) await s.clearHistory();
            if (a.depth > 0) await Promise.all(seqs.map((s) => s.evaluateWithoutGeneratingNewTokens(randTokens(a.depth))));
            const firsts = randTokens(N);
            const t0 = now();
            if (a.batching === "lockstep") {
                // all N sequences submit their token in the same tick -> the context sees all of them
                // queued and decodes them in ONE batch; wait for all N results, repeat
                let toks = firsts, t = t0;
                for (let step = 0; step < a.gen; step++) {
                    const res = await Promise.all(seqs.map((s, i) =>
                        s.controlledEvaluate([[toks[i], { generateNext: { token: true, options: { temperature: 0 } } }]])));
                    toks = res.map((r) => r[0]?.next?.token);
                    if (toks.some((x) => x == null)) throw new Error("par: no token sampled");
                    const t2 = now(); steps.push(t2 - t); t = t2;
                }
            } else {
                await Promise.all(seqs.map((s, i) => generate(s, firsts[i], a.gen, i === 0 ? steps : undefined)));
            }
            return now() - t0;
        }, N * a.gen, N);
        await ctx.dispose();
    }

    info.flashAttentionResolved = [...new Set(faLog)].join(",") || "unknown";
    info.totalSeconds = +(now() - tStart).toFixed(2);
    await model.dispose();
    await llama.dispose();

    if (a.json) {
        process.stdout.write(JSON.stringify({ info, results }) + "\n");
    } else {
        const w = (s, n) => String(s).padEnd(n);
        process.stdout.write(`llama.cpp ${info.llamaCppRelease ?? "?"} (${info.buildType}) ${info.model} ` +
            `${(info.modelBytes / 1048576).toFixed(1)} MiB, ${a.threads} threads, flash_attn=${info.flashAttentionRequested}->${info.flashAttentionResolved}, ` +
            `KV type ${info.kvCacheKeyType ?? "?"} (1 = F16), load ${info.loadSeconds}s\n`);
        const rw = Math.max(10, ...Object.values(results).map((r) => r.seconds.join(" ").length + 2));
        process.stdout.write(`${w("test", 16)}${w("tokens", 8)}${w("median tok/s", 14)}${w("best tok/s", 12)}${w("step-median tok/s", 19)}${w("runs (s)", rw)}other cores\n`);
        for (const [k, r] of Object.entries(results))
            process.stdout.write(`${w(k, 16)}${w(r.tokens, 8)}${w(r.medianTokPerSec.toFixed(2), 14)}${w(r.bestTokPerSec.toFixed(2), 12)}` +
                `${w(r.stepMedianTokPerSec != null ? r.stepMedianTokPerSec.toFixed(2) : "-", 19)}${w(r.seconds.join(" "), rw)}${r.foreignCpuCores.join(" ")}\n`);
        const busy = Object.values(results).some((r) => r.foreignCpuCores.some((x) => x > 0.1));
        if (busy) process.stdout.write("WARNING: other processes used > 0.1 core during some runs; figures are unreliable\n");
    }
}

main().catch((e) => {
    process.stderr.write(`llama_bench: error: ${e?.stack ?? e}\n`);
    process.exit(1);
});
