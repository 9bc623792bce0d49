#!/usr/bin/env bash
#
# backup-files.sh: print the OLD box's backup/secret_key.txt and backup/custom.yaml as the
# base64 of a tar, for restore.sh on the new box. Mail-in-a-Box's backups do not contain
# them (issue #2225), and without the key no backup of this box can be decrypted.
#
# Run by miab-migrate as root on the OLD box in `prepare`. Its output is a secret: the
# program keeps it encrypted in the stack's state and never logs it.
#
# Usage:   backup-files.sh
# Changes: nothing.
# Exit codes: 2 usage, 3 no secret_key.txt.

set -euo pipefail

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}

die() {
  local code=$1
  shift
  printf 'backup-files: error: %s\n' "$*" >&2
  exit "$code"
}

main() {
  [ $# -eq 0 ] || die 2 "usage: backup-files.sh (no arguments)"
  local root files=(secret_key.txt)
  root=$(sed -n 's/^STORAGE_ROOT=//p' "$MIAB_CONF" 2>/dev/null | tail -n 1)
  [ -n "$root" ] || die 3 "no STORAGE_ROOT in $MIAB_CONF: is this a Mail-in-a-Box box?"
  [ -s "$root/backup/secret_key.txt" ] ||
    die 3 "$root/backup/secret_key.txt is missing: Mail-in-a-Box creates it on its first backup; run management/backup.py once"
  [ ! -f "$root/backup/custom.yaml" ] || files+=(custom.yaml)
  tar -C "$root/backup" -cf - "${files[@]}" | base64 -w0
}

main "$@"
