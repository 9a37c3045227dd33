// Encodes texts with the reference encoder @lenml/tokenizers (a fork of transformers.js) from the tokenizer files under
// ../tokenization/NAME (tokenizer.json.gz, tokenizer_config.json), for fixture scripts written in Python.
// Usage: NODE_MODULES=/path/to/node_modules node encode_reference.mjs REQUEST.json RESPONSE.json
// REQUEST: [{"tokenizer": "qwen3", "text": "...", "add_special_tokens": false}, ...]; RESPONSE: the ids, one list per text.
// The package is imported from NODE_MODULES because ES modules ignore NODE_PATH.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath, pathToFileURL } from "node:url";

const modules = process.env.NODE_MODULES;
if (!modules) throw new Error("set NODE_MODULES to a node_modules folder that has @lenml/tokenizers");
const { TokenizerLoader } = await import(pathToFileURL(path.join(modules, "@lenml", "tokenizers", "dist", "main.mjs")).href);
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "tokenization");
const [requestPath, responsePath] = process.argv.slice(2);
const cache = new Map();
function load(name) {
  if (!cache.has(name)) {
    const json = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(dir, name, "tokenizer.json.gz"))).toString("utf8"));
    const config = JSON.parse(fs.readFileSync(path.join(dir, name, "tokenizer_config.json"), "utf8"));
    cache.set(name, TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config }));
  }
  return cache.get(name);
}
const request = JSON.parse(fs.readFileSync(requestPath, "utf8"));
const ids = request.map((r) => load(r.tokenizer).encode(r.text, { add_special_tokens: r.add_special_tokens }));
fs.writeFileSync(responsePath, JSON.stringify(ids));
