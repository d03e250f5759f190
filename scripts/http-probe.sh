#!/usr/bin/env bash
# http-probe PORT [PATH]: exits 0 when GET http://127.0.0.1:PORT/PATH (default /health/live) answers 2xx within 3 s.
#
# The images' and compose's health checks. Bash's /dev/tcp and one read, with no process to start beyond bash
# itself: a check that starts Node costs a second of CPU on a busy machine and timed out there (the slim image has
# no curl or wget). PORT defaults to the process's own (PROBE_PORT for a worker, PORT for an HTTP service), else the
# image's HEALTHCHECK_PORT.
set -u
port=${1:-${PROBE_PORT:-${PORT:-${HEALTHCHECK_PORT:-}}}}
path=${2:-/health/live}
[ -n "$port" ] || { echo "http-probe: no port (give one, or set PROBE_PORT, PORT or HEALTHCHECK_PORT)" >&2; exit 2; }
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
read -r -t 3 _ status _ <&3 || { echo "http-probe: no answer on :$port$path within 3 s" >&2; exit 1; }
case "$status" in
  2??) exit 0 ;;
  *) echo "http-probe: :$port$path answered $status" >&2; exit 1 ;;
esac
