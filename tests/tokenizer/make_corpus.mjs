// make_corpus.mjs - writes the tokenizer parity corpus: one JSON string per
// line (JSONL), deterministic (seeded PRNG, no clock, no locale), so the same
// Node version always produces the same file.
//
//   node make_corpus.mjs OUT.jsonl
//   node make_corpus.mjs --bench OUT.txt MB   (mixed plain text for the benchmark)
//
// Sections: prose in many scripts, emoji (ZWJ, skin tones, flags), code,
// URLs, whitespace runs (incl. \r\n and Unicode spaces), numbers,
// contractions in all cases, every added token embedded and adjacent,
// strings that need NFC, combining marks, control characters, seeded random
// Unicode from many blocks, random strings over regex-sensitive alphabets,
// long strings, the empty string, and every assigned code point (in chunks).
// Lone surrogates are left out: they cannot be carried in UTF-8 (JSON lines
// with lone \uD800 escapes are rejected by the CLI, by design).
import fs from "fs";

const out = [];
const add = (s) => out.push(s);

// mulberry32: small, seeded, same sequence on every platform.
let seed = 0x9e3779b9;
function rnd() {
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const cp = (c) => String.fromCodePoint(c);
const isAssigned = (c) => /^\P{Cn}$/u.test(cp(c));
const isSurrogate = (c) => c >= 0xd800 && c <= 0xdfff;
const cpSlice = (s, n) => [...s].slice(0, n).join("");   // never splits a surrogate pair

// ------------------------------------------------------------ fixed texts
const prose = [
  "The quick brown fox jumps over the lazy dog.",
  "Hello, world! How are you today?",
  "It's a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
  "In 1492, Columbus sailed the ocean blue; in 2024, we tokenize it.",
  "Dr. Smith's lab (Room 4B) reported a 12.5% increase — see Fig. 3.",
  "She said: \"I'll be there at 5:30pm,\" but didn't show up until 6.",
  "E-mail me at first.last+tag@example.co.uk or call +1 (555) 123-4567.",
  "Prices: $1,234.56 / €99,99 / £7 / ¥1000 / ₹250.",
  "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
  "ALL CAPS SENTENCE WITH SOME WORDS. AND MORE!!!",
  "mIxEd CaSe WoRdS aNd n0mb3rs l1k3 th1s",
  "Extract the invoice number, date and total from the following text.",
  "{\"name\": \"Alice\", \"age\": 30, \"tags\": [\"a\", \"b\"]}",
  "naïve café résumé coöperate façade jalapeño Zürich Ångström",
  "Straße, Größe, Maß — ß vs ẞ; İstanbul, ıi; Ǆ ǅ ǆ",
];
const scripts = [
  "我们今天去公园散步，天气非常好。", "人工智能正在改变世界。", "北京欢迎你！2008年奥运会。",
  "日本語のテキストです。カタカナとひらがな、漢字。", "東京タワーは333メートルです。",
  "한국어 텍스트입니다. 안녕하세요!", "대한민국의 수도는 서울입니다.",
  "مرحبا بالعالم! هذا نص عربي.", "اللغة العربية جميلة جدًا، أليس كذلك؟",
  "नमस्ते दुनिया! यह हिंदी पाठ है।", "भारत एक विशाल देश है।",
  "Привет, мир! Это русский текст.", "Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "Γειά σου Κόσμε! Ελληνικά κείμενα.", "שלום עולם! זה טקסט בעברית.",
  "สวัสดีชาวโลก นี่คือข้อความภาษาไทย", "Xin chào thế giới! Đây là tiếng Việt.",
  "Բարեւ աշխարհ", "გამარჯობა მსოფლიო", "ሰላም ልዑል", "வணக்கம் உலகம்", "ওহে বিশ্ব", "ಹಲೋ ವರ್ಲ್ಡ್",
  "Merhaba dünya! Türkçe metin.", "Witaj świecie! Zażółć gęślą jaźń.", "Ahoj světe! Příliš žluťoučký kůň.",
  "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ", "𐌰𐌱𐌲𐌳 Gothic", "ꦲꦤꦕꦫꦏ Javanese", "ᠮᠣᠩᠭᠣᠯ Mongolian",
  "Ελληνικά ἀρχαῖα: ἐν ἀρχῇ ἦν ὁ λόγος", "Ꭰ Ꭱ Ꭲ Cherokee", "ⴰⵣⵓⵍ Tifinagh", "ꆈꌠꁱꂷ Yi",
];
const emoji = [
  "👍", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇺🇸🇯🇵🇩🇪 flags", "1️⃣ #️⃣ *️⃣",
  "I ❤️ NY", "😀😃😄😁😆😅🤣😂", "🧑🏽‍💻 coding", "👩🏿‍🔬👨🏻‍🚀", "🐈‍⬛ black cat", "❤️‍🔥 heart on fire",
  "emoji at end 🎉", "🎉 emoji at start", "mid🎉word", "⌚⌛⏰ ☀☁☂", "🫠🫡🫥 newer", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",
  "👋🏽hello👋🏽", "text\u200d\u200dzwj", "🤷‍♀️🤷‍♂️", "🙋🏻‍♀️ raising hand",
];
const code = [
  "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, %s!\\n\", \"world\");\n    return 0;\n}\n",
  "static int add(int a, int b) { return a + b; } // sum\n/* block\n * comment */",
  "for (size_t i = 0; i < n; ++i) {\n\tif (a[i] != b[i]) return -1;\n}",
  "def fib(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
  "class Foo(Bar):\n    def __init__(self, x: int = 3) -> None:\n        self._x = x  # comment\n",
  "import numpy as np\nx = np.arange(10).reshape(2, 5)\nprint(x.T @ x)\n",
  "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"id\": {\"type\": \"integer\", \"minimum\": 0},\n    \"name\": {\"type\": \"string\"}\n  },\n  \"required\": [\"id\"]\n}",
  "[1, 2.5, -3e10, true, false, null, \"\\u00e9\\n\"]",
  "server:\n  port: 8080\n  hosts:\n    - a.example.com\n    - b.example.com\n  tls: {enabled: true}\n",
  "- name: build\n  run: |\n    cmake -S . -B build\n    cmake --build build -j2\n",
  "#!/bin/sh\nset -eu\nfor f in *.txt; do echo \"$f\"; done 2>&1 | tee log\n",
  "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
  "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
  "fn main() { let v: Vec<u8> = vec![1, 2, 3]; println!(\"{:?}\", v); }",
  "const f = async (x) => { await g(x?.y ?? 0); return `t${x}`; };",
  "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=1;c>>=2;d&=e|f^g;",
  "if(a==b&&c!=d||!e){}else{}",
  "    indented with spaces\n\tindented with tab\n  \t mixed\n",
];
const urls = [
  "https://www.example.com/path/to/page?query=1&x=%20y#frag",
  "http://localhost:8080/api/v1/items/42", "ftp://ftp.example.org/pub/file.tar.gz",
  "mailto:someone@example.com", "See https://en.wikipedia.org/wiki/Byte_pair_encoding for details.",
  "file:///home/user/My%20Documents/report.pdf", "C:\\Users\\Admin\\AppData\\Local\\Temp\\x.log",
  "/usr/local/lib/python3.11/site-packages/", "git@github.com:user/repo.git",
  "https://例子.测试/路径?查询=值", "www.google.com", "192.168.0.1:443 [::1]:8080",
];
const numbers = [
  "0", "7", "42", "123", "1234", "12345", "123456789", "3.14159265358979323846",
  "1,000,000", "1.000.000,00", "-273.15", "6.022e23", "0x1F 0b1010 0o777", "2024-01-15T10:30:00Z",
  "+44 20 7946 0958", "99999999999999999999999999999999999999", "1st 2nd 3rd 4th", "v1.2.3-rc.4",
  "１２３４５ full-width", "٠١٢٣٤٥٦٧٨٩ Arabic-Indic", "०१२३४५६७८९ Devanagari", "ⅠⅡⅢⅣ Roman", "½ ¾ ⅓ ² ³",
  "3x4=12", "a1b2c3", "1a", "100%", "$5", "#1",
];
const contractions = [];
for (const c of ["s", "t", "re", "ve", "m", "ll", "d"]) {
  const up = c.toUpperCase();
  const mixed = c.length === 2 ? c[0].toUpperCase() + c[1] : up;
  contractions.push(`it'${c} x`, `IT'${up} X`, `it'${mixed} x`, `'${c}`, `'${up}`, ` '${c}`, `x'${c}y`, `1'${c}`, `''${c}`);
}
contractions.push("I'm, you're, he's, she'll, we've, they'd, can't, won't", "I'M, YOU'RE, HE'S, SHE'LL, WE'VE, THEY'D",
  "the dog's bone's", "rock 'n' roll", "'tis", "o'clock", "it’s (curly apostrophe)", "ſ'ſ 'ſ", "'K 'k", "x'\u017f", "'\u212a");

const added = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
  "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
  "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>",
  "</tool_response>", "<think>", "</think>"];

for (const s of prose) add(s);
for (const s of scripts) add(s);
for (const s of emoji) add(s);
for (const s of code) add(s);
for (const s of urls) add(s);
for (const s of numbers) add(s);
for (const s of contractions) add(s);

// Added tokens: alone, mid-text, adjacent, around spaces/newlines, partial.
for (const t of added) {
  add(t);
  add(`before ${t} after`);
  add(`x${t}y`);
  add(`${t}${t}`);
  add(` ${t} `);
  add(`\n${t}\n`);
  add(`${t.slice(0, -1)}`);          // unfinished: plain text
  add(`<${t}>`);
  add(`${t}é${t}`);
  add(`e\u0301${t}\u0301`);          // NFC must not reach across the token
}
for (let i = 0; i < 60; i++) {
  let s = "";
  const n = 1 + ri(8);
  for (let k = 0; k < n; k++) s += pick([pick(added), cpSlice(pick(prose), ri(20)), " ", "\n", cpSlice(pick(scripts), 5)]);
  add(s);
}
add("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>");
add("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
add("<|fim_prefix|>def f():\n    <|fim_suffix|>\n    return x<|fim_middle|>");
add("<|im_start|><|im_end|><|endoftext|>");
add("<|im_start|"); add("|im_start|>"); add("<|IM_START|>"); add("< think>"); add("<think >"); add("<<think>>");
add("[PAD151669]"); add("[PAD151935]"); add("x[PAD151700]y");   // fillers never match

// Benchmark text: mostly prose and code, some other scripts and emoji, in
// lines of a few sentences.
if (process.argv[2] === "--bench") {
  const target = (+process.argv[4] || 4) * 1e6;
  const words = prose.join(" ").split(/\s+/);
  const parts = [];
  let size = 0;
  while (size < target) {
    const r = rnd();
    let s;
    if (r < 0.55) { s = ""; for (let k = 0, n = 20 + ri(60); k < n; k++) s += (k ? " " : "") + pick(words); s += "."; }
    else if (r < 0.75) s = pick(code);
    else if (r < 0.83) s = pick(scripts) + " " + pick(scripts);
    else if (r < 0.90) s = pick(urls) + " " + pick(numbers) + " " + pick(contractions);
    else if (r < 0.95) s = pick(prose) + " " + pick(emoji);
    else s = pick(prose) + " " + pick(added) + " " + pick(prose);
    parts.push(s);
    size += Buffer.byteLength(s) + 1;
  }
  fs.writeFileSync(process.argv[3], parts.join("\n") + "\n");
  process.exit(0);
}

// Whitespace.
const ws = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\n ", "\t\n", " \t ", "\u00a0", "\u3000",
  "\u2028", "\u2029", "\u0085", "\ufeff", "\u180e", "\u200b", "\u202f", "\u205f", "\u1680", "\u2000", "\u200a",
  "\u000b", "\u000c", "\u001c", "\u001f"];
for (const w of ws) {
  add(w); add(`a${w}b`); add(`${w}a`); add(`a${w}`); add(`${w}${w}${w}x`); add(`1${w}2`); add(`.${w}.`);
  add(`x ${w}y`); add(`x${w} y`); add(`${w}\n`); add(`!${w}\n\n`);
}
add(""); add(" "); add("\n"); add("          "); add("\n\n\n\n"); add("\r\n\r\n"); add(" \r\n \r\n ");
add("a  b   c    d     e"); add("line1\nline2\r\nline3\rline4"); add("trailing spaces   "); add("   leading spaces");
add("tab\tseparated\tvalues\t1\t2"); add("\t\t\tdeep"); add("end\n"); add("end \n"); add("end  \n\n");
add(" ".repeat(1000)); add("\n".repeat(300)); add(" \n".repeat(200)); add("\t".repeat(100) + "x");
add("x" + " ".repeat(17) + "y"); add("a\u00a0\u00a0b"); add("\u3000\u3000全角"); add("x\u2028y\u2029z");

// NFC: decomposed forms, reordering, exclusions, singletons, Hangul.
const nfc = [
  "e\u0301", "cafe\u0301", "E\u0301COLE", "a\u0308o\u0308u\u0308", "n\u0303", "A\u030a", "\u212b", "\u2126", "\u212a",
  "a\u0323\u0302", "a\u0302\u0323", "q\u0307\u0323", "o\u031b\u0323", "\u1e0b\u0323", "\u0958 \u0959 \u095a",
  "\u0f43 \u0fb9", "\ufb1d \ufb2a", "\u2adc", "\u1100\u1161", "\u1100\u1161\u11a8", "\u110b\u1167\u11ab",
  "\uac00\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af", "\u0041\u030a\u0301", "\u0065\u0300\u0301\u0302",
  "x\u0300\u0301\u0302\u0303\u0304\u0305", "\u0300 leading mark", "\u0301\u0301\u0301", "i\u0307", "\u03a9\u0301",
  "\u1f00\u0345", "\u0391\u0313\u0300\u0345", "Vie\u0323\u0302t Nam", "\u00c5\u0301", "\u2000\u2001", "\u0340\u0341",
  "\u0344", "\u0374 \u037e \u0387", "\u1fee \u1fef", "\u2329\u232a", "\uf900\uf901\ufa10", "\u{2f800}\u{2f801}",
  "\u0b47\u0b3e", "\u0bc6\u0bbe", "\u0cc6\u0cd5", "\u0d46\u0d3e", "\u0dd9\u0dcf", "\u1025\u102e", "\u1b05\u1b35",
  "\u{11099}\u{110ba}", "\u{11131}\u{11127}", "\u{11347}\u{1133e}", "\u{114b9}\u{114ba}", "\u{115b8}\u{115af}",
  "\u{11935}\u{11930}", "a\u{1d165}\u{1d16d}", "\u{1d15e}", "\u{1d1bb}",
  // Unicode 16/17 characters (reference knows them, older libraries may not)
  "\u{1611e}\u{1611e}", "\u{1611e}\u{1611e}\u{1611f}", "\u{16121}\u{1611f}", "\u{16d63}\u{16d67}\u{16d67}",
  "\u{16d67}\u{16d67}", "\u{113c2}\u{113c2}", "\u{113c2}\u{113b8}", "\u{11382}\u{113c9}", "\u{105d2}\u{0307}",
  "a\u1ae0\u0316", "a\u0316\u1ae0", "a\u0301\u1add", "x\u{10d69}\u0323", "\u{113ce}\u{113cf}", "\u{1e5ee}\u{1e5ef}",
  "\u{11380}\u{113c2}\u{113b8}", "k\u0897\u0301\u0327", "\u{16129}\u{1611f}\u{16120}",
];
// A character utf8proc 2.8 does not know (U+16D43, Kirat Rai, Unicode 16)
// sends the whole section through the tokenizer's own NFC: check that path
// on everything else too.
const LATE = "\u{16d43}";
for (const s of nfc) { add(s); add(`word${s}word`); add(` ${s} `); add(`${LATE}${s}`); add(`${s} ${LATE}`); }
// Long runs of marks in mixed classes (the tokenizer sorts runs of more
// than 16 marks differently from short ones).
const marks = ["\u0301", "\u0316", "\u0323", "\u0300", "\u0345", "\u031b", "\u0327", "\u0334", "\u05b0", "\u093c",
  "\u0e38", "\u1ae0", "\u1add", "\u{113ce}", "\u3099", "\u0308"];
for (let i = 0; i < 40; i++) {
  let run = "";
  for (let k = 0, n = 10 + ri(60); k < n; k++) run += pick(marks);
  const base = pick(["a", "e", "o", "\u0915", "\u3046", "\u1100\u1161", "\u{1611e}", "", " "]);
  add(base + run + pick(["", "x", " y", "\u0301"]));
  if (i % 2) add(LATE + base + run);
}

// Control characters and specials.
for (let c = 0; c < 0x20; c++) add(`a${cp(c)}b`);
add("\u007f\u0080\u0081\u009f"); add("nul\u0000inside"); add("\u0000"); add("\ufffd replacement \ufffd\ufffd");
add("\uffff\ufffe nonchars"); add("\u{10ffff}\u{10fffe}"); add("\ue000\uf8ff private use"); add("\u{f0000}\u{100000}");
add("soft\u00adhyphen"); add("zero\u200bwidth"); add("bidi\u202eoverride\u202c"); add("\u2060word\u2060joiner");

// Random strings over regex-sensitive alphabets (edge cases of the split).
const alpha = [" ", " ", "\n", "\r", "\t", "'", "s", "S", "ll", "LL", "re", "a", "Z", "1", "9", "é", "e\u0301", ".",
  ",", "!", "-", "_", "\u00a0", "\u3000", "中", "ß", "😀", "٣", "\u0301", "\ufeff", "\u0085", "\u2028", "'", "\"", "<", ">", "|"];
for (let i = 0; i < 700; i++) {
  let s = "";
  const n = 1 + ri(25);
  for (let k = 0; k < n; k++) s += pick(alpha);
  add(s);
}

// Random Unicode from many blocks (assigned code points per the reference).
const blocks = [
  [0x20, 0x7e], [0xa0, 0x24f], [0x250, 0x36f], [0x370, 0x52f], [0x530, 0x5ff], [0x600, 0x6ff], [0x700, 0x8ff],
  [0x900, 0xdff], [0xe00, 0xfff], [0x1000, 0x10ff], [0x1100, 0x11ff], [0x1200, 0x1fff], [0x2000, 0x2bff],
  [0x2c00, 0x2fff], [0x3000, 0x30ff], [0x3100, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xabff], [0xac00, 0xd7ff],
  [0xf900, 0xffff], [0x10000, 0x1ffff], [0x20000, 0x2ffff], [0x30000, 0x3ffff], [0xe0000, 0xe01ef],
  [0x1ac0, 0x1aff], [0x11300, 0x113ff], [0x16100, 0x1613f], [0x16d40, 0x16d7f], [0x1e5d0, 0x1e6ff],
];
for (let i = 0; i < 900; i++) {
  let s = "";
  const n = 1 + ri(30);
  const [lo, hi] = pick(blocks);
  for (let k = 0; k < n; k++) {
    const r = rnd();
    if (r < 0.1) { s += pick([" ", "\n", "a", "1", "'s", ".", "\u0301"]); continue; }
    let c, tries = 0;
    do { c = lo + ri(hi - lo + 1); } while ((isSurrogate(c) || !isAssigned(c)) && ++tries < 50);
    if (!isSurrogate(c)) s += cp(c);
  }
  add(s);
  if (i % 3 === 0) add(LATE + s);
}

// Long strings.
let long = "";
while (long.length < 60000) long += pick([pick(prose), pick(scripts), pick(code), pick(emoji), " ", "\n", pick(added)]);
add(long);
add("a".repeat(5000)); add("ab".repeat(3000)); add("1".repeat(2000)); add("!".repeat(3000)); add("中".repeat(3000));
add("😀".repeat(1000)); add("e\u0301".repeat(1000)); add(" a".repeat(3000)); add("'s".repeat(1000));

// Every assigned code point except private use, 64 at a time, spaced so
// each character is seen both inside a run and at a run boundary.
{
  let chunk = [];
  const flush = () => {
    if (!chunk.length) return;
    let s = "";
    chunk.forEach((c, k) => { s += cp(c); if (k % 8 === 7) s += " "; });
    add(s);
    chunk = [];
  };
  for (let c = 0; c <= 0x10ffff; c++) {
    if (isSurrogate(c) || !isAssigned(c) || /^\p{Co}$/u.test(cp(c))) continue;
    chunk.push(c);
    if (chunk.length === 64) flush();
  }
  flush();
}

for (const s of out) if (/\p{Cs}/u.test(s)) throw new Error(`lone surrogate in corpus: ${JSON.stringify(s)}`);
const text = out.map((s) => JSON.stringify(s)).join("\n") + "\n";
if (process.argv[2]) fs.writeFileSync(process.argv[2], text);
else process.stdout.write(text);
