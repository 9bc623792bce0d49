#!/usr/bin/env bash
#
# postfix-settings.sh: change a few Postfix main.cf settings under a name, and put them
# back exactly as they were (a value, or not set at all) when that name is restored.
#
# Run by miab-migrate as root on either box, e.g. soft_bounce=yes on the new box while
# the cutover is watched, or virtual_transport on the old box to relay to the new one.
#
# Usage:
#   postfix-settings.sh apply NAME KEY=VALUE...   save the current values of the KEYs
#                                                 (once), set the new ones, reload Postfix;
#                                                 KEY+=WORD adds WORD to the current value
#                                                 unless it is there already
#   postfix-settings.sh restore NAME              put the saved values back, reload
#
# Changes: /etc/postfix/main.cf (through postconf); state in /root/miab-migrate/postfix/NAME.
# Safe to re-run: apply saves only on its first run, so running it again keeps the
# original values; restore without saved state does nothing.
# Exit codes: 2 usage.

set -euo pipefail

readonly STATE_DIR=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/postfix

die() {
  local code=$1
  shift
  printf 'postfix-settings: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'postfix-settings: %s\n' "$*"; }

reload() {
  if postfix status >/dev/null 2>&1; then postfix reload >/dev/null 2>&1; fi
}

# "KEY<TAB>VALUE" for a key set in main.cf, "KEY<TAB>" plus a marker when it is not.
current() {
  local key=$1 value
  if value=$(postconf -nh "$key" 2>/dev/null) && [ -n "$(postconf -n "$key" 2>/dev/null)" ]; then
    printf '%s\tset\t%s\n' "$key" "$value"
  else
    printf '%s\tunset\t\n' "$key"
  fi
}

apply() {
  local name=$1 setting key value now
  shift
  local state=$STATE_DIR/$name
  for setting in "$@"; do
    [[ $setting =~ ^[a-z_][a-z0-9_]*\+?=.*$ ]] || die 2 "settings are KEY=VALUE or KEY+=WORD with a Postfix parameter name (got '$setting')"
  done
  if [ ! -e "$state" ]; then
    (umask 077 && mkdir -p "$STATE_DIR")
    for setting in "$@"; do
      key=${setting%%=*}
      current "${key%+}"
    done >"$state.tmp"
    mv "$state.tmp" "$state"
  fi
  for setting in "$@"; do
    key=${setting%%=*}
    value=${setting#*=}
    if [[ $key == *+ ]]; then
      key=${key%+}
      now=$(postconf -h "$key")
      if [[ " $now " == *" $value "* ]]; then value=$now; else value="$now $value"; fi
    fi
    postconf -e "$key = $value"
    log "$name: $key = $value"
  done
  reload
}

restore() {
  local name=$1 key how value
  local state=$STATE_DIR/$name
  if [ ! -e "$state" ]; then
    log "$name: nothing to restore"
    return 0
  fi
  while IFS=$'\t' read -r key how value; do
    if [ "$how" = set ]; then
      postconf -e "$key = $value"
      log "$name: $key = $value (as before)"
    else
      postconf -X "$key"
      log "$name: $key unset (as before)"
    fi
  done <"$state"
  rm -f "$state"
  reload
}

main() {
  [ "$(id -u)" -eq 0 ] || die 2 "must run as root"
  local cmd=${1:-} name=${2:-}
  [[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die 2 "usage: postfix-settings.sh apply NAME KEY=VALUE... | restore NAME (NAME: lower-case letters, digits, -)"
  case $cmd in
    apply)
      [ $# -ge 3 ] || die 2 "usage: postfix-settings.sh apply NAME KEY=VALUE..."
      shift 2
      apply "$name" "$@"
      ;;
    restore)
      [ $# -eq 2 ] || die 2 "usage: postfix-settings.sh restore NAME"
      restore "$name"
      ;;
    *) die 2 "unknown command '$cmd'; commands: apply, restore" ;;
  esac
}

main "$@"
