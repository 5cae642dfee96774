#!/usr/bin/env bash
# TLS in front of a plain local server, with stunnel, for the HTTPS tests.
#   tls-proxy.sh start DIR TLS_PORT BACKEND_PORT   accept TLS on 127.0.0.1:TLS_PORT (certificate for
#                                                  localhost, signed by DIR/ca.pem), forward to BACKEND_PORT
#   tls-proxy.sh stop DIR
set -euo pipefail
action=$1 dir=$2
stunnel=$(command -v stunnel4 || command -v stunnel || true)
[[ -n $stunnel ]] || { echo "tls-proxy: stunnel is not installed (apt-get install stunnel4)" >&2; exit 2; }
case $action in
  start)
    tls=$3 backend=$4
    "$(dirname "$0")/make-test-ca.sh" "$dir"
    cat > "$dir/stunnel.conf" <<CONF
foreground = no
pid = $dir/stunnel.pid
output = $dir/stunnel.log
[https]
accept = 127.0.0.1:$tls
connect = 127.0.0.1:$backend
cert = $dir/cert.pem
key = $dir/key.pem
CONF
    "$stunnel" "$dir/stunnel.conf"
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$tls") 2>/dev/null && exit 0
      sleep 0.1
    done
    echo "tls-proxy: stunnel did not start:" >&2
    cat "$dir/stunnel.log" >&2
    exit 1
    ;;
  stop)
    [[ -f $dir/stunnel.pid ]] && kill "$(cat "$dir/stunnel.pid")" 2>/dev/null || true
    ;;
  *) echo "tls-proxy: unknown action '$action' (start, stop)" >&2; exit 2 ;;
esac
