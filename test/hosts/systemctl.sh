#!/usr/bin/env bash
#
# systemctl.sh: a stand-in for systemctl inside a test host (test/hosts/testhost.sh), where
# systemd does not run. Installed there as /usr/local/sbin/systemctl. It knows the units
# the migration scripts drive, postfix and dovecot, and answers like systemctl for any
# other: is-active prints "inactive" and exits 3, start/stop/restart/reload fail with exit 5.
# Whether a unit is enabled is a file in /etc/systemctl-standin/enabled/ (the host's /etc).
#
# Usage: systemctl start|stop|restart|reload|is-active|is-enabled|enable|disable [--quiet] UNIT...

set -euo pipefail

is_active() {
  case $1 in
    postfix) postfix status >/dev/null 2>&1 ;;
    dovecot) [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null ;;
    *) return 3 ;;
  esac
}

# Process $1 has not exited. A zombie has: systemd reaps a stopped daemon at once, the
# init of the machine the tests run on can leave it unreaped for a second or more.
exists() {
  local stat
  stat=$(ps -o stat= -p "$1") || return 1
  [[ $stat != Z* ]]
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
        while exists "$pid"; do sleep 0.05; done
      fi
      ;;
    *) unknown "$1" ;;
  esac
}

# As Debian's units do it (ExecReload): the daemons' processes restart with their files
# opened again. Like systemctl, a unit that is not running cannot be reloaded.
reload() {
  known "$1" || unknown "$1"
  is_active "$1" || {
    echo "$1.service is not active, cannot reload." >&2
    exit 1
  }
  case $1 in
    postfix) postfix reload </dev/null >/dev/null 2>&1 ;;
    dovecot) doveadm reload ;;
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
      reload) reload "$unit" ;;
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
