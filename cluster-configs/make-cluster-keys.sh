#!/usr/bin/env bash
# Makes the TLS keys of a ppsd cluster with the JDK's keytool:
#   - a cluster CA (ca.p12: its private key, ca.crt: its certificate),
#   - truststore.p12: the CA's certificate and nothing else (every node trusts exactly this CA),
#   - NAME.p12 per node: the node's own key pair, its certificate signed by the CA (with the CA
#     certificate as the chain).
# Only a holder of a NAME.p12 signed by this CA can connect to the cluster's Artery port
# (cluster-configs/tls.conf: TLS 1.3, mutual authentication).
#
#   cluster-configs/make-cluster-keys.sh [DIR] [NAME[=SAN]]...
#
# DIR defaults to cluster-configs/keys (gitignored: keys are never committed). NAMEs default to
# node-a node-b node-c node-d client, the names the loopback configs here use. SAN adds subject
# alternative names in keytool's syntax, e.g. gpu1=dns:gpu1.example.org,ip:10.0.0.5 (every
# certificate also names dns:NAME, dns:localhost and ip:127.0.0.1), needed only if you turn
# hostname-verification on. Run it again with new NAMEs to add nodes: an existing CA in DIR is
# reused and existing node keystores are left alone.
#
# Environment: PPSD_TLS_PASSWORD (default "ppsd-cluster"; the password of every store made, and
# what the nodes read), PPSD_TLS_DAYS (certificate validity, default 825), JAVA_HOME (keytool is
# taken from $JAVA_HOME/bin, else from PATH).
#
# What a node needs: its NAME.p12 and truststore.p12 (copy those two; keep ca.p12 off the nodes,
# it signs new members).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
DIR="${1:-$HERE/keys}"
[ $# -gt 0 ] && shift
NODES=("$@")
[ ${#NODES[@]} -gt 0 ] || NODES=(node-a node-b node-c node-d client)

KEYTOOL=keytool
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/keytool" ]; then KEYTOOL="$JAVA_HOME/bin/keytool"; fi
command -v "$KEYTOOL" >/dev/null 2>&1 || { echo "make-cluster-keys: no keytool (set JAVA_HOME to a JDK)" >&2; exit 2; }

PASS="${PPSD_TLS_PASSWORD:-ppsd-cluster}"
[ ${#PASS} -ge 6 ] || { echo "make-cluster-keys: PPSD_TLS_PASSWORD must have at least 6 characters (keytool)" >&2; exit 2; }
DAYS="${PPSD_TLS_DAYS:-825}"
# Key pairs: EC P-256 (fast to make and to handshake with TLS 1.3).
KEYALG=(-keyalg EC -groupname secp256r1)

umask 077
mkdir -p "$DIR"
# keytool is a JVM start per call: the client compiler and the serial GC start it faster.
JOPTS=(-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC)
kt() { "$KEYTOOL" "${JOPTS[@]}" "$@" >/dev/null 2>"$DIR/.keytool.err" || { echo "make-cluster-keys: keytool $1 failed:" >&2; cat "$DIR/.keytool.err" >&2; exit 1; }; }

CA="$DIR/ca.p12"
if [ -f "$CA" ]; then
  echo "make-cluster-keys: using the existing CA in $CA"
else
  kt -genkeypair -alias ca "${KEYALG[@]}" -dname "CN=ppsd cluster CA $(date -u +%Y%m%dT%H%M%SZ)" \
     -ext bc:c -ext KeyUsage=keyCertSign,cRLSign -validity "$DAYS" \
     -keystore "$CA" -storetype PKCS12 -storepass "$PASS" -keypass "$PASS"
  kt -exportcert -rfc -alias ca -keystore "$CA" -storepass "$PASS" -file "$DIR/ca.crt"
  rm -f "$DIR/truststore.p12"
  echo "make-cluster-keys: made the cluster CA $CA"
fi
[ -f "$DIR/ca.crt" ] || kt -exportcert -rfc -alias ca -keystore "$CA" -storepass "$PASS" -file "$DIR/ca.crt"
if [ ! -f "$DIR/truststore.p12" ]; then
  kt -importcert -noprompt -alias ppsd-cluster-ca -file "$DIR/ca.crt" \
     -keystore "$DIR/truststore.p12" -storetype PKCS12 -storepass "$PASS"
fi

for spec in "${NODES[@]}"; do
  name="${spec%%=*}"
  extra=""
  [ "$spec" != "$name" ] && extra=",${spec#*=}"
  [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "make-cluster-keys: bad node name '$name'" >&2; exit 2; }
  [[ "$name" != ca && "$name" != truststore ]] || { echo "make-cluster-keys: '$name' is reserved" >&2; exit 2; }
  ks="$DIR/$name.p12"
  if [ -f "$ks" ]; then echo "make-cluster-keys: $ks exists, left alone"; continue; fi
  tmp="$(mktemp -d)"
  kt -genkeypair -alias node "${KEYALG[@]}" -dname "CN=$name, OU=ppsd cluster" -validity "$DAYS" \
     -keystore "$tmp/node.p12" -storetype PKCS12 -storepass "$PASS" -keypass "$PASS"
  # Certificate request | signed by the CA (one pipeline: the two keytool JVMs start together).
  if ! "$KEYTOOL" "${JOPTS[@]}" -certreq -alias node -keystore "$tmp/node.p12" -storepass "$PASS" 2>"$tmp/err" \
       | "$KEYTOOL" "${JOPTS[@]}" -gencert -alias ca -keystore "$CA" -storepass "$PASS" -rfc -validity "$DAYS" \
           -ext KeyUsage=digitalSignature -ext ExtendedKeyUsage=serverAuth,clientAuth \
           -ext "SAN=dns:$name,dns:localhost,ip:127.0.0.1$extra" > "$tmp/node.crt" 2>>"$tmp/err"; then
    echo "make-cluster-keys: signing $name's certificate failed:" >&2; cat "$tmp/err" >&2; rm -rf "$tmp"; exit 1
  fi
  # The certificate reply with its chain (node, CA), so that the keystore presents both.
  cat "$tmp/node.crt" "$DIR/ca.crt" > "$tmp/chain.pem"
  kt -importcert -noprompt -alias node -file "$tmp/chain.pem" -keystore "$tmp/node.p12" -storepass "$PASS" -keypass "$PASS"
  mv "$tmp/node.p12" "$ks"
  rm -rf "$tmp"
  echo "make-cluster-keys: made $ks (CN=$name, signed by the cluster CA)"
done
rm -f "$DIR/.keytool.err"
echo "make-cluster-keys: trust store $DIR/truststore.p12 (the cluster CA only); password from PPSD_TLS_PASSWORD (default ppsd-cluster)"
