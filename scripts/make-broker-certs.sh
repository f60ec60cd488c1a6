#!/bin/sh
# Make a private CA and a broker certificate signed by it (openssl only).
#
#   scripts/make-broker-certs.sh OUTDIR BROKER_NAME [EXTRA_NAME ...]
#
# BROKER_NAME is the host name edges and the hub connect to (it must match their broker.host /
# mqtt.host); extra names may be DNS names or IPv4 addresses. Writes OUTDIR/ca.crt, ca.key,
# server.crt, server.key. Copy ca.crt to every edge and the hub (tls.ca_file); keep ca.key offline.
# An existing CA in OUTDIR is reused, so running it again renews only the server certificate.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 OUTDIR BROKER_NAME [EXTRA_NAME ...]" >&2
    exit 2
fi
out=$1
name=$2
shift 2
days=${PRESENSI_CERT_DAYS:-825}

mkdir -p "$out"
umask 077

san="DNS:$name"
for extra in "$@"; do
    case $extra in
        *[!0-9.]*) san="$san,DNS:$extra" ;;
        *) san="$san,IP:$extra" ;;
    esac
done

if [ ! -f "$out/ca.key" ] || [ ! -f "$out/ca.crt" ]; then
    openssl req -x509 -new -nodes -newkey rsa:3072 -sha256 -days 3650 \
        -subj "/O=presensi/CN=presensi broker CA" \
        -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi

openssl req -new -nodes -newkey rsa:2048 -sha256 \
    -subj "/O=presensi/CN=$name" \
    -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null

ext=$(mktemp)
trap 'rm -f "$ext"' EXIT
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
    "$san" > "$ext"
openssl x509 -req -sha256 -days "$days" -in "$out/server.csr" \
    -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -extfile "$ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/ca.srl"

# The CA certificate is public; the broker reads the server key (chown it to mosquitto when installing).
chmod 644 "$out/ca.crt" "$out/server.crt"
echo "wrote $out/ca.crt (give to edges and the hub) and $out/server.crt + server.key (broker); names: $san"
