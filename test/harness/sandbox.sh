#!/usr/bin/env bash
#
# sandbox.sh: run a command as a throw-away "box" on this machine, so that scripts meant
# for a server can be run for real without touching the machine itself.
#
# Usage: sandbox.sh WORKDIR COMMAND [ARGS...]
#
# The command runs in private PID, mount and network namespaces, with:
#   /etc      a copy of this machine's /etc in WORKDIR/etc (made on first use)
#   /root     WORKDIR/root
#   /var/log  WORKDIR/log
#   network   only loopback, up
# WORKDIR/etc and WORKDIR/root persist between runs, so a second run sees what the first
# one changed. Every process started inside is killed when the command ends.

set -euo pipefail

main() {
  local work=$1
  shift
  mkdir -p "$work/root" "$work/log"
  [ -d "$work/etc" ] || cp -a /etc "$work/etc"
  # shellcheck disable=SC2016 # expanded by the inner shell, which gets the values as arguments.
  exec unshare --pid --fork --mount-proc --mount --net --propagation private \
    bash -c 'set -e
      mount --bind "$1/etc" /etc
      mount --bind "$1/root" /root
      mount --bind "$1/log" /var/log
      ip link set lo up
      shift
      exec "$@"' _ "$work" "$@"
}

main "$@"
