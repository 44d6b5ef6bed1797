// Cross-check of models/ppsd-mini/tokenizer.json + golden/tokens.json with Hugging Face tokenizers.js.
// Run from the repo root: d=$(mktemp -d) && (cd $d && npm init -y >/dev/null && npm install @huggingface/tokenizers@0.2.0) && cp models/recipe/check_tokenizer.mjs $d/ && node $d/check_tokenizer.mjs
// Optional EXTRA=file.json with [{"text","ids"}] to check more cases.
import { Tokenizer } from "@huggingface/tokenizers";
import fs from "fs";
const dir = (process.env.MODEL_DIR || "models/ppsd-mini") + "/";
const tj = JSON.parse(fs.readFileSync(dir + "tokenizer.json"));
const tc = JSON.parse(fs.readFileSync(dir + "tokenizer_config.json"));
const tok = new Tokenizer(tj, tc);
const g = JSON.parse(fs.readFileSync(dir + "golden/tokens.json"));
let bad = 0, n = 0;
const check = (text, ids) => {
  n++;
  const e = tok.encode(text).ids;
  if (JSON.stringify(e) !== JSON.stringify(ids)) { bad++; if (bad < 5) console.log("MISMATCH", JSON.stringify(text).slice(0,80), "\n js", JSON.stringify(e).slice(0,200), "\n py", JSON.stringify(ids).slice(0,200)); }
  const d = tok.decode(ids, { skip_special_tokens: true });
  if (d !== text) { console.log("DECODE MISMATCH", JSON.stringify(text).slice(0,60), JSON.stringify(d).slice(0,60)); }
};
for (const c of g.cases) check(c.text, c.ids);
// extra: prompts with python ids passed via file
if (fs.existsSync(process.env.EXTRA || "/nonexistent")) for (const c of JSON.parse(fs.readFileSync(process.env.EXTRA || "/nonexistent"))) check(c.text, c.ids);
console.log(`${n - bad}/${n} match`);
