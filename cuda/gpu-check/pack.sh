#!/usr/bin/env bash
# Builds what the GPU check's Java half needs on a machine without a JDK: a jlink-ed runtime (jre/)
# and the jars (lib/: ppsd-runtime, ppsd-cuda with its PTX, JavaCPP and its CUDA presets with only
# the cudart binding kept, Jackson, Typesafe Config, SLF4J + Logback).
#   bash cuda/gpu-check/pack.sh      after mvn install: cuda/gpu-check/pack/ppsd-check.tar.xz (git-ignored,
#                                    ~22 MB: the device tool carries at most 64 MiB with the 33 MB tree)
#   bash cuda/gpu-check/pack.sh --classpath CP --out DIR   the unpacked folder (GpuCheckScriptTest)
# Then: run(command="bash cuda/gpu-check/run.sh", carry=["cuda/gpu-check/pack"], timeout_s=480).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
out=""
cp=""
while [ $# -gt 0 ]; do
  case "$1" in
    --classpath) cp="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "pack.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ -z "$cp" ]; then
  (cd "$root" && mvn -o -q -B dependency:build-classpath -pl cuda -Dmdep.outputFile="$root/cuda/target/pack-classpath.txt" -Dmdep.includeScope=runtime >&2)
  cp="$root/cuda/target/classes:$(cat "$root/cuda/target/pack-classpath.txt")"
fi
archive=""
if [ -z "$out" ]; then archive="$here/pack/ppsd-check.tar.xz"; out="$(mktemp -d)/ppsd-check"; fi
rm -rf "$out"
mkdir -p "$out/lib"
n=0
IFS=':' read -ra entries <<< "$cp"
for e in "${entries[@]}"; do
  case "$e" in
    ""|*junit*|*opentest4j*|*apiguardian*|*/test-classes) continue ;;
  esac
  if [ -d "$e" ]; then   # a module's classes (the reactor's runtime/cuda): made a jar
    name=$(basename "$(dirname "$(dirname "$e")")")
    "$JAVA_HOME/bin/jar" --create --file "$out/lib/ppsd-$name.jar" -C "$e" .
  elif [ -f "$e" ]; then
    cp "$e" "$out/lib/"
  fi
  case "$e" in   # the CUDA presets' native jar: only the cudart binding (the NPP/cuBLAS/... ones are 28 MB)
    */cuda-*-linux-x86_64.jar) python3 - "$out/lib/$(basename "$e")" <<'PY'
import os, sys, zipfile
path = sys.argv[1]
keep = [i for i in zipfile.ZipFile(path).infolist() if not (i.filename.endswith(".so") and "/libjni" in i.filename and not i.filename.endswith("/libjnicudart.so"))]
with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as dst:
    for i in keep:
        dst.writestr(i, src.read(i.filename))
os.replace(path + ".tmp", path)
PY
    ;;
  esac
  n=$((n + 1))
done
ls "$out/lib"/ppsd-cuda*.jar >/dev/null 2>&1 || { echo "pack.sh: the classpath has no ppsd-cuda classes: $cp" >&2; exit 1; }
# The modules jdeps finds for these jars, less java.desktop (only Jackson's optional java.beans use).
"$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,java.sql,java.xml,jdk.incubator.vector,jdk.unsupported \
  --strip-debug --no-header-files --no-man-pages --strip-native-debug-symbols=exclude-debuginfo-files --output "$out/jre"
echo "pack.sh: $out: $(du -sh "$out" | cut -f1) ($n classpath entries, jre $(du -sh "$out/jre" | cut -f1))"
if [ -n "$archive" ]; then   # xz: about a third of jlink's own zip compression
  mkdir -p "$(dirname "$archive")"
  tar -cJf "$archive" -C "$(dirname "$out")" "$(basename "$out")"
  rm -rf "$(dirname "$out")"
  echo "pack.sh: $archive $(du -h "$archive" | cut -f1)"
fi
