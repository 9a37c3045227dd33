// Encodes a corpus with the reference encoder @lenml/tokenizers (a fork of transformers.js) from the tokenizer.json that
// IftSharp's ByteLevelTokenizer writes, proving that file means to Hugging Face tooling what it means to us.
// Run: NODE_PATH=<dir with node_modules> node make_byte_tokenizer_fixtures.mjs  (needs npm i @lenml/tokenizers)
import { TokenizerLoader } from "@lenml/tokenizers";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, "..", "tokenization");
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "byte_level_tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "byte_level_tokenizer_config.json"), "utf8")),
});
const corpus = [
  "What is 3 plus 6?", "  leading and trailing spaces  ", "tabs\tand\nnewlines\r\n", "naïve café — “quotes”",
  "日本語のテキスト", "emoji 👩‍💻 and 🇫🇷", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "x<|endoftext|>y", "",
  "def f(x):\n    return x ** 2  # square",
];
const cases = corpus.map((text) => {
  const ids = tokenizer.encode(text, { add_special_tokens: false });
  return { text, ids, decoded: ids.length ? tokenizer.decode(ids, { skip_special_tokens: false }) : "" };
});
fs.writeFileSync(path.join(dir, "byte_level_reference.json"), JSON.stringify(cases, null, 1));
console.log(`wrote ${cases.length} cases`);
