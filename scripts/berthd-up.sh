#!/usr/bin/env bash
# Installs what is missing, builds berthd (release) and starts it in the background, reachable
#   - on the unix socket /run/berth/berth.sock (mode 0660, group docker when it exists), and
#   - remotely on tcp://0.0.0.0:2376 over mutual TLS (--tlsverify): on first start the
#     certificates are made in /etc/berth/tls (berthd tls init), and the lines a remote user
#     needs are printed. BERTH_TCP overrides the TCP address (BERTH_TCP= for none).
# Extra arguments are passed to berthd. Data in /var/lib/berth, logs in /var/log/berthd.log.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "berthd runs as root (containers need it): run this as root" >&2; exit 1; }
scripts/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product berthd >&2
berthd=.build/release/berthd
tcp=${BERTH_TCP-tcp://0.0.0.0:2376}
tlsdir=/etc/berth/tls
ip=$(hostname -I 2>/dev/null | awk '{print $1}')
ip=${ip:-127.0.0.1}
if [ -f /run/berth/berthd.pid ] && kill -0 "$(cat /run/berth/berthd.pid)" 2>/dev/null; then
  echo "berthd is already running (pid $(cat /run/berth/berthd.pid))"; exit 0
fi
args=(-H unix:///run/berth/berth.sock)
if [ -n "$tcp" ]; then
  if [ ! -f "$tlsdir/ca.pem" ]; then
    ips=(--ip "$ip"); [ "$ip" = 127.0.0.1 ] || ips+=(--ip 127.0.0.1)
    "$berthd" tls init --hostname "$(hostname)" "${ips[@]}" --dir "$tlsdir" >/dev/null
  fi
  args+=(-H "$tcp" --tlsverify --tlscacert "$tlsdir/ca.pem" --tlscert "$tlsdir/server-cert.pem" --tlskey "$tlsdir/server-key.pem")
fi
mkdir -p /run/berth /var/lib/berth
: > /var/log/berthd.log
nohup "$berthd" "${args[@]}" --data-root /var/lib/berth --exec-root /run/berth --pidfile /run/berth/berthd.pid "$@" \
  >>/var/log/berthd.log 2>&1 &
for _ in $(seq 1 100); do
  if grep -q "ready" /var/log/berthd.log; then
    echo "berthd is up. On this host: export DOCKER_HOST=unix:///run/berth/berth.sock"
    if [ -n "$tcp" ]; then
      port=${tcp##*:}
      echo "From another host, copy $tlsdir/client there and run:"
      echo "  export DOCKER_HOST=tcp://$ip:$port"
      echo "  export DOCKER_TLS_VERIFY=1"
      echo "  export DOCKER_CERT_PATH=/path/to/that/client/directory"
    fi
    exit 0
  fi
  kill -0 $! 2>/dev/null || break
  sleep 0.1
done
echo "berthd did not start:" >&2; tail -20 /var/log/berthd.log >&2; exit 1
