#!/usr/bin/env bash
#
# decommission.sh: retire the OLD box's mail services, or bring them back. The box itself,
# its disk and its data stay: destroying the server is never done by miab-migrate.
#
# Run by miab-migrate as root on the OLD box: `stop` in the `decommission` phase, after
# the stragglers were moved to the new box; `start` when that phase is undone.
#
# Usage:
#   decommission.sh stop [--archive FILE]   stop and disable Mail-in-a-Box's services and
#                                           its nightly job (a reboot brings nothing
#                                           back); with --archive, first write the
#                                           storage root (without backup/) to FILE
#                                           (.tar.gz, 0600), unless FILE exists
#   decommission.sh start                   enable again what stop disabled (the later
#                                           steps start what they need)
#
# Changes: the services in SERVICES (enabled state, running state), /etc/cron.d/
#          mailinabox-nightly (moved to the state directory), FILE.
# State:   /root/miab-migrate/decommission/ (what was enabled, the nightly job).
# Safe to re-run. Exit codes: 2 usage, 3 not Mail-in-a-Box.

set -euo pipefail

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}
readonly STATE=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/decommission
readonly NIGHTLY=/etc/cron.d/mailinabox-nightly
readonly SERVICES=(postfix dovecot postgrey nginx php8.0-fpm spampd opendkim opendmarc mailinabox)

die() {
  local code=$1
  shift
  printf 'decommission: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'decommission: %s\n' "$*"; }

archive() {
  local file=$1 root
  root=$(sed -n 's/^STORAGE_ROOT=//p' "$MIAB_CONF" | tail -n 1)
  [ -n "$root" ] || die 3 "no STORAGE_ROOT in $MIAB_CONF"
  if [ -e "$file" ]; then
    log "archive $file exists; kept as it is"
    return 0
  fi
  log "archiving $root (without backup/) to $file"
  (umask 077 && tar -C "$(dirname "$root")" --exclude="./$(basename "$root")/backup" -czf "$file.tmp" "./$(basename "$root")")
  mv "$file.tmp" "$file"
  log "archive written: $(du -h "$file" | cut -f1)"
}

stop() {
  local s
  (umask 077 && mkdir -p "$STATE")
  if [ ! -e "$STATE/enabled" ]; then
    for s in "${SERVICES[@]}"; do
      if systemctl is-enabled --quiet "$s" 2>/dev/null; then echo "$s"; fi
    done >"$STATE/enabled.tmp"
    mv "$STATE/enabled.tmp" "$STATE/enabled"
  fi
  if [ -e "$NIGHTLY" ]; then mv "$NIGHTLY" "$STATE/mailinabox-nightly"; fi
  for s in "${SERVICES[@]}"; do
    if systemctl is-active --quiet "$s"; then systemctl stop "$s"; fi
  done
  while IFS= read -r s; do systemctl disable --quiet "$s"; done <"$STATE/enabled"
  log "stopped and disabled: $(paste -sd' ' "$STATE/enabled"); nightly job parked in $STATE"
  log "the server itself is not touched: destroy it yourself once you no longer need its data"
}

start() {
  local s
  if [ ! -e "$STATE/enabled" ]; then
    log "not decommissioned; nothing to do"
    return 0
  fi
  while IFS= read -r s; do systemctl enable --quiet "$s"; done <"$STATE/enabled"
  if [ -e "$STATE/mailinabox-nightly" ]; then mv "$STATE/mailinabox-nightly" "$NIGHTLY"; fi
  log "enabled again: $(paste -sd' ' "$STATE/enabled")"
  rm -rf "$STATE"
}

main() {
  [ "$(id -u)" -eq 0 ] || die 2 "must run as root"
  case ${1:-} in
    stop)
      if [ $# -eq 3 ] && [ "$2" = --archive ] && [[ $3 == /?* ]]; then
        archive "$3"
      elif [ $# -ne 1 ]; then
        die 2 "usage: decommission.sh stop [--archive FILE] (FILE absolute)"
      fi
      stop
      ;;
    start)
      [ $# -eq 1 ] || die 2 "usage: decommission.sh start"
      start
      ;;
    *) die 2 "usage: decommission.sh stop [--archive FILE] | start" ;;
  esac
}

main "$@"
