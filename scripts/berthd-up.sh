#!/usr/bin/env bash
# Installs what is missing, builds berthd (release) and starts it in the background:
#   -H unix:///run/berth/berth.sock -H tcp://127.0.0.1:2375, data in /var/lib/berth.
# Extra arguments are passed to berthd. Logs go to /var/log/berthd.log.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "berthd runs as root (containers need it): run this as root" >&2; exit 1; }
scripts/install-deps.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build -c release --product berthd >&2
if [ -f /run/berth/berthd.pid ] && kill -0 "$(cat /run/berth/berthd.pid)" 2>/dev/null; then
  echo "berthd is already running (pid $(cat /run/berth/berthd.pid))"; exit 0
fi
mkdir -p /run/berth /var/lib/berth
: > /var/log/berthd.log
nohup .build/release/berthd -H unix:///run/berth/berth.sock -H tcp://127.0.0.1:2375 \
  --data-root /var/lib/berth --exec-root /run/berth --pidfile /run/berth/berthd.pid "$@" \
  >>/var/log/berthd.log 2>&1 &
for _ in $(seq 1 100); do
  grep -q "ready" /var/log/berthd.log && { echo "berthd is up: export DOCKER_HOST=tcp://127.0.0.1:2375"; exit 0; }
  kill -0 $! 2>/dev/null || break
  sleep 0.1
done
echo "berthd did not start:" >&2; tail -20 /var/log/berthd.log >&2; exit 1
