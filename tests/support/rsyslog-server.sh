#!/usr/bin/env bash
# A throwaway rsyslog on loopback for the syslog sink's tests.
#   rsyslog-server.sh start DIR UDP_PORT TCP_PORT TLS_PORT   write its config (and a CA and a
#                                                            certificate for localhost) and start it
#   rsyslog-server.sh stop DIR                               stop it
# Every message it receives is written to DIR/received.log, one line each:
#   PRI|APP-NAME|MSGID|STRUCTURED-DATA|MSG
# The CA that signed its certificate is DIR/ca.pem.
set -euo pipefail
action=$1 dir=$2

rsyslogd=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[[ -x $rsyslogd ]] || { echo "rsyslog-server: rsyslog is not installed (apt-get install rsyslog rsyslog-gnutls)" >&2; exit 2; }

case $action in
  start)
    udp=$3 tcp=$4 tls=$5
    mkdir -p "$dir"
    "$(dirname "$0")/make-test-ca.sh" "$dir"
    cat > "$dir/rsyslog.conf" <<CONF
global(workDirectory="$dir" maxMessageSize="2m"
       defaultNetstreamDriverCAFile="$dir/ca.pem" defaultNetstreamDriverCertFile="$dir/cert.pem"
       defaultNetstreamDriverKeyFile="$dir/key.pem")
module(load="imudp")
module(load="imtcp" maxSessions="100")
input(type="imudp" address="127.0.0.1" port="$udp")
input(type="imtcp" address="127.0.0.1" port="$tcp")
input(type="imtcp" address="127.0.0.1" port="$tls" streamDriver.name="gtls" streamDriver.mode="1"
      streamDriver.authMode="anon")
template(name="fields" type="string" string="%pri%|%app-name%|%msgid%|%structured-data%|%msg%\n")
*.* action(type="omfile" file="$dir/received.log" template="fields")
CONF
    touch "$dir/received.log"
    "$rsyslogd" -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" -n >"$dir/rsyslogd.log" 2>&1 &
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$tcp") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$tls") 2>/dev/null; then
        exit 0
      fi
      sleep 0.1
    done
    echo "rsyslog-server: rsyslogd did not start:" >&2
    cat "$dir/rsyslogd.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f $dir/rsyslogd.pid ]]; then
      pid=$(cat "$dir/rsyslogd.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    ;;
  *) echo "rsyslog-server: unknown action '$action' (start, stop)" >&2; exit 2 ;;
esac
