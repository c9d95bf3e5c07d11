# Shared helpers for the store scripts in tests/stores/. Sourced, not run.
# Every daemon is started with `setsid` (its own process group), its pid is
# appended to DIR/pids, and `stop_all DIR` TERMs each group, waits, then KILLs.

set -euo pipefail

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# find_bin NAME: a binary on PATH, else in the scripts dir of python3 (pip installs).
find_bin() {
  local p
  if p=$(command -v "$1" 2>/dev/null) && [ -x "$p" ]; then
    # pyenv shims are fine, but resolve them so ps shows the real binary
    if [[ "$p" == */shims/* ]] && command -v pyenv >/dev/null 2>&1; then
      p=$(pyenv which "$1" 2>/dev/null || echo "$p")
    fi
    echo "$p"; return 0
  fi
  for py in python3 /usr/bin/python3; do
    p=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/$1 || continue
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

# free_ports N: N distinct free TCP ports on 127.0.0.1 (ephemeral, picked by the kernel).
free_ports() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

# rand_hex N: N random hex chars
rand_hex() { /usr/bin/python3 -c "import secrets,sys; print(secrets.token_hex(int(sys.argv[1])//2))" "$1"; }

# spawn DIR NAME CMD...: start CMD in its own session, log to DIR/log/NAME.log, record pid.
spawn() {
  local dir=$1 name=$2; shift 2
  mkdir -p "$dir/log"
  setsid "$@" </dev/null >>"$dir/log/$name.log" 2>&1 &
  local pid=$!
  echo "$pid $name" >>"$dir/pids"
}

# alive DIR: fail if any recorded process has died (prints its log tail).
check_alive() {
  local dir=$1 pid name
  [ -f "$dir/pids" ] || return 0
  while read -r pid name; do
    if ! group_alive "$pid"; then
      echo "process $name ($pid) exited; tail of $dir/log/$name.log:" >&2
      tail -n 30 "$dir/log/$name.log" >&2 || true
      return 1
    fi
  done <"$dir/pids"
}

# wait_until DIR SECONDS CMD...: retry CMD every 0.1 s until it succeeds, or fail.
wait_until() {
  local dir=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
  while ! "$@" >/dev/null 2>&1; do
    check_alive "$dir" || return 1
    if [ "$(date +%s%N)" -gt "$deadline" ]; then
      echo "timed out after ${secs}s waiting for: $*" >&2
      return 1
    fi
    sleep 0.1
  done
}

# http_up URL: any HTTP answer at all (even 4xx) means the listener is serving.
http_up() { curl -s -o /dev/null --max-time 2 "$1"; }

# group_alive PGID: a non-zombie process is left in the process group.
group_alive() {
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# stop_all DIR [GRACE]: TERM every recorded process group, wait up to GRACE seconds
# (default 10), KILL what is left.
stop_all() {
  local dir=$1 grace=${2:-10} pid name i left
  unwatch "$dir"
  [ -f "$dir/pids" ] || return 0
  while read -r pid name; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done <"$dir/pids"
  for i in $(seq $((grace * 10))); do
    left=0
    while read -r pid name; do
      if group_alive "$pid"; then left=1; fi
    done <"$dir/pids"
    [ $left = 0 ] && break
    sleep 0.1
  done
  while read -r pid name; do
    if group_alive "$pid"; then
      [ "$grace" -ge 5 ] && echo "killing $name ($pid) after $grace s" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$dir/pids"
  rm -f "$dir/pids"
}

# watch_parent DIR SCRIPT: with STORES_WATCH_PID set (e.g. the test process's pid), a
# detached watcher runs `SCRIPT stop DIR` once that process is gone, so a test killed
# before its Drop guard ran leaves nothing behind. Its pid is in DIR/watcher.pid.
watch_parent() {
  local dir=$1 script=$2 pid=${STORES_WATCH_PID:-}
  [ -n "$pid" ] || return 0
  setsid bash -c '
    while s=$(ps -o stat= -p "$0" 2>/dev/null) && [ "${s#Z}" = "$s" ]; do sleep 1; done
    exec "$1" stop "$2"' "$pid" "$script" "$dir" </dev/null >>"$dir/log/watcher.log" 2>&1 &
  echo $! >"$dir/watcher.pid"
}

# unwatch DIR: end the watcher (unless we are it).
unwatch() {
  local dir=$1 w
  [ -f "$dir/watcher.pid" ] || return 0
  w=$(cat "$dir/watcher.pid")
  [ "$w" != "$$" ] && kill -TERM -- "-$w" 2>/dev/null || true
  rm -f "$dir/watcher.pid"
}

# check_args ACTION DIR: common argument check
check_args() {
  [ $# -eq 2 ] || die "usage: $(basename "$0") start|stop DIR"
  case $1 in start|stop) ;; *) die "usage: $(basename "$0") start|stop DIR";; esac
}
