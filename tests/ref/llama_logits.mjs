#!/usr/bin/env node
// Reference next-token distribution from llama.cpp (node-llama-cpp's prebuilt CPU build).
//
//   node llama_logits.mjs --model FILE (--tokens 1,2,3 | --tokens-file FILE) [--out FILE.f32]
//        [--greedy N] [--threads N] [--ctx N] [--batch N] [--all-positions]
//
// Writes, for the distribution right after the last prompt token, the full-vocabulary
// vector  log(p / p_max) = logit - max(logit)  as float32 little-endian (n_vocab values).
// With --all-positions it writes n_tokens rows (row i = distribution after prompt token i),
// i.e. n_tokens * n_vocab float32 values, row-major.
//
// Settings: CPU only (never downloads or builds anything), flash attention OFF, F32 K and V
// cache, raw token ids (no BOS added, no tokenization), greedy sampler (temperature 0, no
// top-k/top-p/penalties), so the probabilities are a plain softmax of the raw logits.
//
// Precision / floor: llama.cpp's addon computes p = expf(l - lmax) / sum in float32, so
// log(p/pmax) is exact to ~1e-6 while p is a normal float (log ratio > about -75 for a
// 151936-token vocabulary: p = exp(ratio)/sum must stay > 1.2e-38), loses precision below and becomes
// -Infinity once expf underflows (~ -104). Consumers (compare_logits.mjs) ignore entries whose
// reference log ratio is below a floor (default -30), where this is irrelevant anyway.
//
// stdout: with --greedy N, one JSON line {"greedy":[...]} (N greedy tokens; EOS does not stop it).
// stderr: timing and diagnostics.

import fs from "node:fs";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(msg) {
    if (msg) process.stderr.write(`llama_logits: ${msg}\n`);
    process.stderr.write(
        "usage: node llama_logits.mjs --model FILE (--tokens 1,2,3 | --tokens-file FILE) [--out FILE.f32]\n" +
        "                             [--greedy N] [--threads N] [--ctx N] [--batch N] [--all-positions]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const a = { model: null, tokens: null, out: null, greedy: 0, threads: 2, ctx: 0, batch: 0, allPositions: false };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => { if (i + 1 >= argv.length) usage(`missing value for ${k}`); return argv[++i]; };
        switch (k) {
            case "--model": a.model = v(); break;
            case "--tokens": a.tokens = parseTokenList(v()); break;
            case "--tokens-file": a.tokens = parseTokenList(fs.readFileSync(v(), "utf8")); break;
            case "--out": a.out = v(); break;
            case "--greedy": a.greedy = parseInt(v(), 10); break;
            case "--threads": a.threads = parseInt(v(), 10); break;
            case "--ctx": a.ctx = parseInt(v(), 10); break;
            case "--batch": a.batch = parseInt(v(), 10); break;
            case "--all-positions": a.allPositions = true; break;
            case "-h": case "--help": usage();
            default: usage(`unknown argument ${k}`);
        }
    }
    if (!a.model) usage("--model is required");
    if (!a.tokens || a.tokens.length === 0) usage("--tokens (or --tokens-file) is required and must be non-empty");
    if (!(a.greedy >= 0)) usage("bad --greedy");
    if (!(a.threads >= 1)) usage("bad --threads");
    return a;
}

// accepts "1,2,3", "1 2 3", "[1,2,3]" (JSON), newline separated, ...
function parseTokenList(s) {
    const parts = s.replace(/[\[\]]/g, " ").split(/[\s,]+/).filter((x) => x.length > 0);
    return parts.map((x) => {
        if (!/^\d+$/.test(x)) usage(`bad token id "${x}"`);
        return parseInt(x, 10);
    });
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

function nVocabOf(model) {
    const t = model.fileInfo.tensorInfo?.find((x) => x.name === "token_embd.weight");
    const fromTensor = t ? Number(t.dimensions[1]) : undefined;
    const fromVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    if (fromTensor != null && fromVocab != null && fromTensor !== fromVocab)
        process.stderr.write(`llama_logits: warning: token_embd rows ${fromTensor} != tokenizer tokens ${fromVocab}\n`);
    return fromVocab ?? fromTensor;
}

// probabilities Map<token, p> -> Float32Array of log(p/pmax), -Infinity where p underflowed to 0
function probsToLogRatio(probs, nVocab, where) {
    if (probs.size !== nVocab)
        throw new Error(`${where}: probabilities map has ${probs.size} entries, expected the full vocabulary ${nVocab}`);
    let pmax = 0;
    for (const p of probs.values()) if (p > pmax) pmax = p;
    const row = new Float32Array(nVocab).fill(-Infinity);
    const seen = new Uint8Array(nVocab);
    for (const [tok, p] of probs) {
        if (tok < 0 || tok >= nVocab) throw new Error(`${where}: token id ${tok} out of range`);
        seen[tok] = 1;
        row[tok] = p > 0 ? Math.log(p / pmax) : -Infinity;
    }
    for (let i = 0; i < nVocab; i++) if (!seen[i]) throw new Error(`${where}: token ${i} missing from probabilities`);
    return row;
}

function rowStats(row) {
    let argmax = 0, finite = 0, above30 = 0;
    for (let i = 0; i < row.length; i++) {
        if (row[i] > row[argmax]) argmax = i;
        if (Number.isFinite(row[i])) finite++;
        if (row[i] > -30) above30++;
    }
    return { argmax, finite, above30 };
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const T = args.tokens.length;

    const t0 = now();
    const llama = await getLlama({
        gpu: false,
        build: "never",          // never compile
        usePrebuiltBinaries: true,
        skipDownload: true,      // never download
        progressLogs: false,
        logLevel: LlamaLogLevel.warn,
        maxThreads: args.threads,
    });
    const t1 = now();
    const model = await llama.loadModel({
        modelPath: path.resolve(args.model),
        gpuLayers: 0,
        defaultContextFlashAttention: false,
    });
    const t2 = now();

    const nVocab = nVocabOf(model);
    if (!(nVocab > 0)) throw new Error("cannot determine vocabulary size");
    for (const t of args.tokens)
        if (t >= nVocab) throw new Error(`token id ${t} >= n_vocab ${nVocab}`);

    const need = T + Math.max(args.greedy, 1) + 1;
    const contextSize = Math.max(args.ctx || 0, need);
    const context = await model.createContext({
        contextSize,
        sequences: 1,
        ...(args.batch > 0 ? { batchSize: args.batch } : {}),
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
        threads: { ideal: args.threads, min: args.threads },
        failedCreationRemedy: false,
    });
    const t3 = now();
    if (context.flashAttention !== false) throw new Error(`flash attention is ${context.flashAttention}, expected false`);
    process.stderr.write(
        `llama_logits: n_vocab=${nVocab} prompt=${T} ctx=${context.contextSize} batch=${context.batchSize} ` +
        `threads=${context.idealThreads} flash_attn=${context.flashAttention} ` +
        `kv_k=${context.kvCacheKeyType} kv_v=${context._kvCacheValueType ?? "?"} (GgmlType, 0 = F32) ` +
        `add_bos=${model.tokens.shouldPrependBosToken} (ignored: raw ids)\n`);
    if (context.kvCacheKeyType !== 0) throw new Error(`K cache type ${context.kvCacheKeyType}, expected F32 (0)`);

    const seq = context.getSequence();
    let rows = [];
    let firstToken;
    const t4 = now();
    if (args.allPositions) {
        // one distribution per prompt position
        const input = args.tokens.map((tok) => [tok, { generateNext: { probabilities: true, token: true, options: { temperature: 0 } } }]);
        const res = await seq.controlledEvaluate(input);
        for (let i = 0; i < T; i++) {
            const p = res[i]?.next?.probabilities;
            if (!p) throw new Error(`no probabilities for position ${i}`);
            rows.push(probsToLogRatio(p, nVocab, `position ${i}`));
        }
        firstToken = res[T - 1].next.token;
    } else {
        const gen = seq.evaluateWithMetadata(args.tokens, { probabilities: true }, { temperature: 0, yieldEogToken: true });
        const first = await gen.next();
        if (first.done || !first.value?.probabilities) throw new Error("no output from the first evaluation");
        rows.push(probsToLogRatio(first.value.probabilities, nVocab, "last position"));
        firstToken = first.value.token;
        await gen.return();
    }
    const t5 = now();

    const ctxTokens = seq.contextTokens;
    if (ctxTokens.length !== T || ctxTokens.some((t, i) => t !== args.tokens[i]))
        throw new Error(`sequence state ${JSON.stringify(ctxTokens.slice(0, 8))}... does not equal the prompt (BOS added?)`);

    const last = rows[rows.length - 1];
    const st = rowStats(last);
    if (st.argmax !== firstToken)
        process.stderr.write(`llama_logits: note: argmax ${st.argmax} != sampled greedy token ${firstToken} (tie?)\n`);

    if (args.out) {
        const buf = Buffer.alloc(rows.length * nVocab * 4);
        let o = 0;
        for (const r of rows) for (let i = 0; i < nVocab; i++, o += 4) buf.writeFloatLE(r[i], o);
        fs.writeFileSync(args.out, buf);
    }

    let t6 = now(), t7 = t6;
    if (args.greedy > 0) {
        const greedy = [firstToken];
        if (args.greedy > 1) {
            // continue from the prompt state: evaluate the first greedy token, keep sampling greedily,
            // EOG tokens are yielded (and fed back) instead of stopping the generation
            t6 = now();
            const gen = seq.evaluate([firstToken], { temperature: 0, yieldEogToken: true });
            for await (const tok of gen) {
                greedy.push(tok);
                if (greedy.length >= args.greedy) break;
            }
            t7 = now();
        }
        process.stdout.write(JSON.stringify({ greedy }) + "\n");
    }

    process.stderr.write(
        `llama_logits: argmax=${st.argmax} finite=${st.finite}/${nVocab} above(-30)=${st.above30} rows=${rows.length}` +
        (args.out ? ` out=${args.out}` : "") + "\n" +
        `llama_logits: timing ms: init=${(t1 - t0).toFixed(0)} load=${(t2 - t1).toFixed(0)} ctx=${(t3 - t2).toFixed(0)} ` +
        `prompt_eval=${(t5 - t4).toFixed(1)} (${(T / ((t5 - t4) / 1000)).toFixed(1)} tok/s incl. softmax+JS)` +
        (args.greedy > 1 ? ` greedy=${(t7 - t6).toFixed(1)} (${((args.greedy - 1) / ((t7 - t6) / 1000)).toFixed(1)} tok/s)` : "") +
        ` total=${(now() - t0).toFixed(0)}\n`);

    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    process.stderr.write(`llama_logits: error: ${e?.stack ?? e}\n`);
    process.exit(1);
});
