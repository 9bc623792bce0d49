#!/usr/bin/env bash
#
# systemctl.sh: a stand-in for systemctl inside a test host (test/hosts/testhost.sh), where
# systemd does not run. Installed there as /usr/local/sbin/systemctl. It knows the units
# the migration scripts drive, postfix and dovecot, and answers like systemctl for any
# other: is-active prints "inactive" and exits 3, start/stop/restart fail with exit 5.
# Whether a unit is enabled is a file in /etc/systemctl-standin/enabled/ (the host's /etc).
#
# Usage: systemctl start|stop|restart|is-active|is-enabled|enable|disable [--quiet] UNIT...

set -euo pipefail

is_active() {
  case $1 in
    postfix) postfix status >/dev/null 2>&1 ;;
    dovecot) [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null ;;
    *) return 3 ;;
  esac
}

# Daemons keep none of the caller's descriptors: an SSH session would wait for them.
start() {
  case $1 in
    postfix) is_active postfix || postfix start </dev/null >/dev/null 2>&1 ;;
    dovecot) is_active dovecot || dovecot </dev/null >/dev/null 2>&1 ;;
    *) unknown "$1" ;;
  esac
}

stop() {
  case $1 in
    postfix) ! is_active postfix || postfix stop </dev/null >/dev/null 2>&1 ;;
    dovecot)
      if is_active dovecot; then
        local pid
        pid=$(cat /run/dovecot/master.pid)
        kill "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
      fi
      ;;
    *) unknown "$1" ;;
  esac
}

readonly ENABLED=/etc/systemctl-standin/enabled

known() { [ "$1" = postfix ] || [ "$1" = dovecot ]; }

unknown() {
  echo "Failed to operate on unit $1.service: Unit $1.service not found." >&2
  exit 5
}

main() {
  local verb=$1 quiet=0 unit rc=0
  shift
  if [ "${1:-}" = --quiet ]; then
    quiet=1
    shift
  fi
  for unit in "$@"; do
    unit=${unit%.service}
    case $verb in
      is-active)
        if is_active "$unit"; then
          [ $quiet -eq 1 ] || echo active
        else
          [ $quiet -eq 1 ] || echo inactive
          rc=3
        fi
        ;;
      is-enabled)
        if [ -e "$ENABLED/$unit" ]; then
          [ $quiet -eq 1 ] || echo enabled
        else
          [ $quiet -eq 1 ] || echo disabled
          rc=1
        fi
        ;;
      enable | disable)
        known "$unit" || unknown "$unit"
        mkdir -p "$ENABLED"
        if [ "$verb" = enable ]; then touch "$ENABLED/$unit"; else rm -f "$ENABLED/$unit"; fi
        ;;
      start) start "$unit" ;;
      stop) stop "$unit" ;;
      restart)
        stop "$unit"
        start "$unit"
        ;;
      *)
        echo "systemctl (test stand-in): unsupported command $verb" >&2
        exit 1
        ;;
    esac
  done
  exit $rc
}

main "$@"
