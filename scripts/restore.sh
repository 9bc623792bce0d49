#!/usr/bin/env bash
#
# restore.sh: put the old box's data, copied by transfer.sh, in place on the NEW box, or
# take it out again.
#
# Run by miab-migrate as root on the NEW box: `apply` in the `restore` phase, `undo` when
# that phase is undone. Mail-in-a-Box's setup is re-run by the next step (install-miab.sh,
# its supported repair path), which also rewrites /etc/mailinabox.conf for this box.
#
# Usage:
#   restore.sh apply --staging DIR [--from-backup ENC] < backup-files
#       moves this box's fresh storage root aside and the copy in DIR into its place,
#       installs the old box's backup key and settings, and has the running services
#       reload, so that they use the moved-in data. With --from-backup (`transfer:
#       backup`), DIR is first made by restoring the old box's encrypted Mail-in-a-Box
#       backups in ENC with duplicity, decrypted with the first line of its secret_key.txt
#       (as management/backup.py does)
#   restore.sh undo --staging DIR
#       the reverse: the copy goes back to DIR and the fresh storage root into place
#
# Input:  backup-files is the base64 of a tar holding secret_key.txt and, if the old box
#         had one, custom.yaml: its backup/ directory, which its backups do not contain
#         (Mail-in-a-Box #2225). Never an argument: the key decrypts every backup.
# Changes: the storage root (renames only: nothing is copied or deleted), its backup/,
#          <parent of storage root>/miab-migrate-fresh-install; the running services in
#          SERVICES are reloaded (postgrey restarted).
# The moves are renames on one file system, so both directions take a moment whatever the
# size, and Mail-in-a-Box #1071 (a restore into a non-empty ssl/ fails) cannot happen: the
# fresh ssl/ leaves with the fresh tree. An interrupted run is finished by running it
# again; running it twice changes nothing.
# Exit codes: 2 usage or bad input, 3 system (not Mail-in-a-Box, nothing to restore),
#             5 the backups could not be restored (e.g. not the key they were made with).

set -euo pipefail

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}
readonly STATE=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/restore
readonly SERVICES=(postfix dovecot postgrey nginx php8.0-fpm)

ROOT="" FRESH=""

die() {
  local code=$1
  shift
  printf 'restore: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'restore: %s\n' "$*"; }

# The new box takes no mail before the cutover (DNS and the old box's relay point at it
# only then), so its services keep running while the storage root is renamed: nothing of
# value is in the fresh tree. Then each running service is made to open its files in the
# tree now in place: Postfix, Dovecot, nginx and PHP are reloaded (their worker processes
# restart, and Dovecot's auth and Postfix's lookups reopen users.sqlite); postgrey, which
# keeps its database open, is restarted.
reopen_files() {
  local s
  for s in "${SERVICES[@]}"; do
    systemctl is-active --quiet "$s" || continue
    if [ "$s" = postgrey ]; then
      systemctl restart "$s" || die 3 "$s did not restart; see: journalctl -u $s"
    else
      systemctl reload "$s" || die 3 "$s did not reload; see: journalctl -u $s"
    fi
    log "$s now uses $ROOT"
  done
}

# The old box's backup/ files from stdin, checked, into the directory $1.
unpack_backup_files() {
  local dir=$1
  base64 -d >"$dir/backup.tar" 2>/dev/null || die 2 "stdin is not base64: expected the old box's backup files"
  mkdir -m 0700 "$dir/files"
  tar -xf "$dir/backup.tar" -C "$dir/files" --no-same-owner 2>/dev/null || die 2 "stdin is not a tar of the old box's backup files"
  [ -s "$dir/files/secret_key.txt" ] || die 2 "stdin holds no secret_key.txt: the old box's backups could not be decrypted here"
}

# Mail-in-a-Box keeps backup/ root-only; the key and settings are 0600.
install_backup_files() {
  local files=$1 dest=$2
  mkdir -p "$dest"
  chmod 0700 "$dest"
  install -m 0600 "$files/secret_key.txt" "$dest/secret_key.txt"
  if [ -f "$files/custom.yaml" ]; then
    install -m 0600 "$files/custom.yaml" "$dest/custom.yaml"
  fi
  log "installed the old box's backup key$([ -f "$files/custom.yaml" ] && echo " and backup settings (custom.yaml)") in $dest"
}

# Restores the encrypted backups in $1 into $2 with duplicity; the passphrase is the first
# line of the key file $3, passed in the environment, never on a command line.
restore_backups() {
  local enc=$1 staging=$2 key=$3 cache out
  ls "$enc"/duplicity-full.*.manifest.gpg >/dev/null 2>&1 || die 3 "$enc holds no full Mail-in-a-Box backup: run the transfer first"
  cache=$(mktemp -d)
  rm -rf "$staging.restoring"
  log "restoring the old box's backups from $enc with duplicity (this takes time in proportion to all the mail)"
  if ! out=$(PASSPHRASE=$(head -n 1 "$key") duplicity restore --archive-dir "$cache" "file://$enc" "$staging.restoring" 2>&1); then
    rm -rf "$cache" "$staging.restoring"
    grep -qi 'gpg\|decrypt\|passphrase' <<<"$out" &&
      die 5 "the backups in $enc cannot be decrypted with the old box's secret_key.txt: they were made with another key. Nothing was changed"
    die 5 "duplicity could not restore the backups in $enc: $(tail -n 3 <<<"$out"). Nothing was changed"
  fi
  rm -rf "$cache"
  mv "$staging.restoring" "$staging"
  log "restored into $staging"
}

apply() {
  local staging=$1 enc=$2
  local input
  input=$(mktemp -d)
  # shellcheck disable=SC2064 # the directory is known now
  trap "rm -rf '$input'" EXIT
  unpack_backup_files "$input"
  if [ -n "$enc" ] && [ ! -f "$STATE/restored" ] && [ ! -f "$staging/mail/users.sqlite" ]; then
    restore_backups "$enc" "$staging" "$input/files/secret_key.txt"
  fi
  [ -f "$STATE/restored" ] || [ -f "$staging/mail/users.sqlite" ] ||
    die 3 "$staging holds no copy of the old box (no mail/users.sqlite): run the transfer first"
  (umask 077 && mkdir -p "$STATE")
  if [ ! -f "$STATE/restored" ]; then
    if [ -e "$ROOT" ] && [ ! -e "$FRESH" ]; then mv "$ROOT" "$FRESH"; fi
    if [ -e "$staging" ] && [ ! -e "$ROOT" ]; then mv "$staging" "$ROOT"; fi
    [ -f "$ROOT/mail/users.sqlite" ] || die 3 "$ROOT holds no mail/users.sqlite after the move; look at $ROOT, $FRESH and $staging"
    touch "$STATE/restored"
    log "the old box's data is now $ROOT; this box's fresh install is kept in $FRESH"
  else
    log "already restored"
  fi
  install_backup_files "$input/files" "$ROOT/backup"
  reopen_files
}

undo() {
  local staging=$1
  if [ ! -f "$STATE/restored" ]; then
    log "not restored; nothing to do"
    return 0
  fi
  if [ -e "$ROOT" ] && [ ! -e "$staging" ]; then mv "$ROOT" "$staging"; fi
  if [ -e "$FRESH" ] && [ ! -e "$ROOT" ]; then mv "$FRESH" "$ROOT"; fi
  rm -f "$STATE/restored"
  log "the old box's copy is back in $staging; this box's fresh install is $ROOT again"
  reopen_files
}

main() {
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  local cmd=${1:-} enc=""
  if [ $# -eq 5 ] && [ "$cmd" = apply ] && [ "$4" = --from-backup ] && [[ $5 == /?* ]]; then
    enc=${5%/}
  elif [ $# -ne 3 ]; then
    die 2 "usage: restore.sh apply --staging DIR [--from-backup ENC] | undo --staging DIR (directories absolute)"
  fi
  if ! { [ "$2" = --staging ] && [[ $3 == /?* ]]; }; then
    die 2 "usage: restore.sh apply --staging DIR [--from-backup ENC] | undo --staging DIR (directories absolute)"
  fi
  [ -r "$MIAB_CONF" ] || die 3 "$MIAB_CONF not found: Mail-in-a-Box is not installed on this box"
  ROOT=$(sed -n 's/^STORAGE_ROOT=//p' "$MIAB_CONF" | tail -n 1)
  [ -n "$ROOT" ] || die 3 "$MIAB_CONF has no STORAGE_ROOT"
  FRESH=$(dirname "$ROOT")/miab-migrate-fresh-install
  case $cmd in
    apply) apply "${3%/}" "$enc" ;;
    undo) undo "${3%/}" ;;
    *) die 2 "unknown command '$cmd'; commands: apply, undo" ;;
  esac
}

main "$@"
