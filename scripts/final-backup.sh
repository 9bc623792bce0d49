#!/usr/bin/env bash
#
# final-backup.sh: take the frozen OLD box's last backup with Mail-in-a-Box's own tool,
# as its move procedure says, for `transfer: backup`.
#
# Run by miab-migrate as root on the OLD box in `freeze`, after freeze.sh close.
#
# Usage:   final-backup.sh [--miab-dir DIR]   (default /root/mailinabox)
# Steps:   runs management/backup.py from DIR (a full or incremental backup, as it
#          decides), then stops Postfix and Dovecot again: backup.py starts the services
#          it stopped, but the box must stay frozen.
# Only the `local` backup target is supported (the new box copies the encrypted backups
# from $STORAGE_ROOT/backup/encrypted through the transfer gate).
# Changes: a new backup in $STORAGE_ROOT/backup/encrypted; the marker
#          /root/miab-migrate/freeze/final-backup (a second run makes no second backup).
# Exit codes: 2 usage, 3 not frozen or not a local target, 5 the backup failed.

set -euo pipefail

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}
readonly FREEZE=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/freeze

die() {
  local code=$1
  shift
  printf 'final-backup: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'final-backup: %s\n' "$*"; }

main() {
  local miab_dir=/root/mailinabox root target
  if [ $# -eq 2 ] && [ "$1" = --miab-dir ]; then
    miab_dir=$2
  elif [ $# -ne 0 ]; then
    die 2 "usage: final-backup.sh [--miab-dir DIR]"
  fi
  [ "$(id -u)" -eq 0 ] || die 2 "must run as root"
  [ -d "$FREEZE" ] || die 3 "the old box is not frozen: the final backup is taken only after freeze.sh close"
  if [ -e "$FREEZE/final-backup" ]; then
    log "the final backup was taken at $(cat "$FREEZE/final-backup"); nothing to do"
    return 0
  fi
  root=$(sed -n 's/^STORAGE_ROOT=//p' "$MIAB_CONF" | tail -n 1)
  [ -n "$root" ] || die 3 "no STORAGE_ROOT in $MIAB_CONF"
  # No custom.yaml means Mail-in-a-Box's default, the local target.
  target=$(sed -n 's/^target:[[:space:]]*//p' "$root/backup/custom.yaml" 2>/dev/null | head -n 1 || true)
  case ${target:-local} in
    local | "file://$root/backup/encrypted") ;;
    *) die 3 "the backup target is ${target%%://*}://...; transfer backup supports only the local target: use transfer rsync" ;;
  esac
  [ -x "$miab_dir/management/backup.py" ] || die 3 "$miab_dir/management/backup.py not found"

  log "running Mail-in-a-Box's backup (management/backup.py); it stops the mail services while it runs"
  (cd "$miab_dir" && management/backup.py) || die 5 "management/backup.py failed (above); the old box stays frozen"
  systemctl stop postfix dovecot
  date -u +%Y-%m-%dT%H:%M:%SZ >"$FREEZE/final-backup"
  log "final backup taken; Postfix and Dovecot stopped again"
}

main "$@"
