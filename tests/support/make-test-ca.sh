#!/usr/bin/env bash
# A CA and a certificate it signed for localhost and 127.0.0.1, for the tests'
# TLS servers: DIR/ca.pem, DIR/cert.pem, DIR/key.pem (made once).
#   make-test-ca.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
[[ -f $dir/cert.pem ]] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mcp-audit test CA" \
  -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial -days 2 \
  -extfile "$dir/san.ext" -out "$dir/cert.pem" 2>/dev/null
