#!/usr/bin/env bash
# Installs dii-hpc and everything it needs into one Python environment.
#
# Which environment: $DII_HPC_PYTHON if set, else the active virtualenv ($VIRTUAL_ENV),
# else ./.venv (created here).  Torch: when the chosen environment has no torch, the
# CPU build (torch==2.13.0) goes in first so that the open `torch>=2.1` range of the
# audit extra is already satisfied; an environment that has torch keeps its own.
#
#   scripts/install.sh            package + audit/mpi extras
#   scripts/install.sh --test     + test tools and system packages (Slurm, GlusterFS, MPI, Chromium, tmux)
set -euo pipefail
cd "$(dirname "$0")/.."

pip_q() {
  # pip warns once per missing mirror folder on some machines; keep the log readable.
  "$py" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ -n "${DII_HPC_PYTHON:-}" ]; then
  py="$DII_HPC_PYTHON"
elif [ -n "${VIRTUAL_ENV:-}" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  py="$PWD/.venv/bin/python"
fi

apt_install() {
  # Debian packages: openmpi for mpi4py, Slurm + accounting for the real cluster,
  # chromium for the report tests, tmux for the terminal view's.  Only what is missing is installed.
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "install.sh: missing Debian packages (need root): ${missing[*]}" >&2; return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if command -v dpkg >/dev/null 2>&1; then
  apt_install openmpi-bin libopenmpi-dev || true
  if [ $want_test = 1 ]; then
    apt_install slurm-wlm slurmdbd munge mariadb-server glusterfs-server glusterfs-client chromium fonts-dejavu-core tmux
  fi
fi

"$py" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! "$py" -c "import torch" >/dev/null 2>&1; then
  echo "install.sh: no torch in this environment; installing the CPU build torch==2.13.0"
  pip_q "torch==2.13.0"
fi

extras="all"
[ $want_test = 1 ] && extras="all,test,bench"
if ! "$py" -c "import mpi4py" >/dev/null 2>&1 && ! command -v mpicc >/dev/null 2>&1; then
  extras="${extras/all/audit}"   # no MPI compiler: skip mpi4py, --mpi stays unavailable
fi
pip_q -e ".[${extras}]"
echo "install.sh: dii-hpc installed in $("$py" -c 'import sys; print(sys.prefix)')"
