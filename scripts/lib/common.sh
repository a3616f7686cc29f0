# Helpers shared by the test-bed scripts (slurm-up.sh, sharedfs-up.sh).  Sourced, not run:
# the caller sets PROG (the prefix of every message) and LOG_HINT (where to look on failure).

die() { echo "$PROG: $*" >&2; exit 1; }
log() { [ -n "${DII_SLURM_QUIET:-}" ] || echo "$PROG: $*" >&2; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root ($1)"
}

# wait_for SECONDS DESCRIPTION CMD... : poll CMD every 0.5 s until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local i
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not come up within ${secs}s (see ${LOG_HINT:-the logs})"
}

# PIDs of the live processes named NAME: a daemon's start-up fork may linger a moment as a
# zombie with the same name, which must count neither as running nor as something to stop.
daemon_pids() {
  local pid state
  for pid in $(pgrep -x "$1" || true); do
    state=$(ps -o stat= -p "$pid" 2>/dev/null) || continue
    [[ "$state" == Z* ]] || echo "$pid"
  done
}

running() { [ -n "$(daemon_pids "$1")" ]; }

# kill_and_wait PID... : SIGTERM, wait until every one is gone (SIGKILL after 20 s), so that a
# daemon restarted next never finds its old self still holding the port or the pid file.
kill_and_wait() {
  [ $# -gt 0 ] || return 0
  kill "$@" 2>/dev/null || true
  local pid
  for pid in "$@"; do
    for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || continue 2; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# install_packages PKG... : apt-get install the Debian packages that are missing, quietly.
install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
}
