#!/usr/bin/env python3
"""One table from the GPU check's results (DIR/java_decode.json, DIR/peer.json): batch-1 decode per
context for the Java backend (device-resident step and host path) and for PyTorch/transformers
(eager, compiled), each as ms/token, tokens/s, bytes read per second and its share of the
bandwidth limit: the device-to-device copy bandwidth peer.py measured, and the part's nominal
figure. Bytes per token are the Java half's count (every weight but the embedding table, plus the
cache read at that context), the same for both engines. Prints the table and writes DIR/table.md.
"""
import json
import os
import sys

NOMINAL = [("H200", 4.8e12), ("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("A100-SXM4-80GB", 2.039e12), ("A100", 1.555e12)]


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def leading_equal(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main(out):
    java, peer = load(os.path.join(out, "java_decode.json")), load(os.path.join(out, "peer.json"))
    if java is None:
        print("table: no java_decode.json in", out)
        return 1
    device = java["device"]
    nominal = next((bw for name, bw in NOMINAL if name in device), None)
    copy = peer.get("copy_bytes_per_s") if peer else None
    lines = [f"Batch-1 greedy decode, {device}, {java['layers']} layers, weights {java['weight_bytes_per_token'] / 1e9:.2f} GB/token, "
             f"KV {java['kv_dtype']}, CUDA graphs {'on' if java['graphs'] else 'off'}",
             f"bandwidth limit: copy {copy / 1e9:.0f} GB/s (measured)" if copy else "bandwidth limit: copy not measured",
             f"nominal {nominal / 1e12:.2f} TB/s" if nominal else "nominal: unknown part", "",
             "| context | engine | ms/token | tokens/s | GB/s | of copy BW | of nominal | tokens = ppsd device |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    bytes_at = {r["context"]: r["bytes_per_token"] for r in java["rows"]}
    device_tokens = {r["context"]: r["tokens"] for r in java["rows"] if r["path"] == "device"}
    rows = [("ppsd " + r["path"], r) for r in java["rows"]]
    if peer:
        rows += [("transformers " + r["path"], r) for r in peer.get("rows", [])]
    for context in sorted(bytes_at):
        for name, r in rows:
            if r["context"] != context:
                continue
            if "error" in r:
                lines.append(f"| {context} | {name} | failed: {r['error'][:60]} | | | | | |")
                continue
            rate = bytes_at[context] / r["median_s"]
            same = "–" if name == "ppsd sampled" else f"{leading_equal(device_tokens.get(context, []), r.get('tokens', []))}/{len(r.get('tokens', []))}"
            lines.append(f"| {context} | {name} | {r['median_s'] * 1e3:.3f} | {1 / r['median_s']:.1f} | {rate / 1e9:.0f} | "
                         + (f"{rate / copy:.0%}" if copy else "–") + " | " + (f"{rate / nominal:.0%}" if nominal else "–")
                         + f" | {same} |")
    calls = java.get("stage_calls", [])
    if calls:
        lines += ["", "Pipeline stage calls (hidden rows through the host, as the StageExecutor seam moves them):", "",
                  "| context | rows | ms per call | x one row |", "|---:|---:|---:|---:|"]
        one = {r["context"]: r["median_s"] for r in calls if r["rows"] == 1}
        for r in calls:
            lines.append(f"| {r['context']} | {r['rows']} | {r['median_s'] * 1e3:.3f} | {r['median_s'] / one[r['context']]:.2f} |")
    if peer and peer.get("skipped"):
        lines.append(f"\ntransformers: skipped ({peer['skipped']})")
    if peer and peer.get("compiled_skipped"):
        lines.append(f"\ntransformers compiled: skipped ({peer['compiled_skipped']})")
    lines.append("\n'tokens = ppsd device': leading tokens equal to the Java device-resident step's (random weights: "
                 "BF16 arithmetic in transformers against F32 in ppsd may part ways at a close call).")
    text = "\n".join(lines)
    print(text)
    open(os.path.join(out, "table.md"), "w").write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
