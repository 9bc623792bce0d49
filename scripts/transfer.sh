#!/usr/bin/env bash
#
# transfer.sh: move mail between the boxes with rsync over SSH, with the key made for the
# migration. The old box lets that key run only rsync through transfer-gate.sh.
#
# Run by miab-migrate as root on the NEW box.
#
# Usage:
#   transfer.sh setup --old IPV4 --port PORT --old-host-key KEY < private-key
#       installs the transfer key (0600) and pins the old box's host key
#   transfer.sh forget
#       removes both again
#   transfer.sh pull --old IPV4 --port PORT --source-root DIR --dest DIR
#       makes DEST a copy of the old box's storage root (backup/ excluded: its secret key
#       is carried as a secret, its encrypted backups are not needed). Used hot while the
#       old box still serves (the pre-copy) and again once it is frozen (the final copy,
#       which moves only what changed). An interrupted run resumes (--partial-dir).
#   transfer.sh pull-backups --old IPV4 --port PORT --source-root DIR --dest DIR
#       copies the old box's encrypted Mail-in-a-Box backups (backup/encrypted) to DEST,
#       for `transfer: backup`; again, only what is new
#   transfer.sh stragglers --old IPV4 --port PORT --source-root DIR --storage-root DIR
#       copies to this box every message of the old box that is not here yet
#   transfer.sh push-back --old IPV4 --port PORT --source-root DIR --storage-root DIR
#       copies to the old box every message of this box that is not there yet (rollback)
#
# A message is the same on both boxes when its user and its Maildir file name up to ":2,"
# match: Dovecot renames a file when its flags change but keeps that part, and it is
# unique per message. stragglers and push-back never overwrite or delete anything, so
# running them twice copies nothing the second time.
# Changes: /root/miab-migrate/transfer/ (key, known_hosts), DEST or the mail store.
# Exit codes: 2 usage, 3 not set up, 4 the old box cannot be reached or refused, 5 rsync failed.

set -euo pipefail
export LC_ALL=C

readonly DIR=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/transfer
readonly KEY=$DIR/id_ed25519
readonly KNOWN=$DIR/known_hosts

OLD="" PORT=22 SOURCE_ROOT="" DEST="" STORAGE_ROOT="" HOST_KEY=""

die() {
  local code=$1
  shift
  printf 'transfer: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'transfer: %s\n' "$*"; }

parse_args() {
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die 2 "option $1 needs a value"
    case $1 in
      --old) OLD=$2 ;;
      --port) PORT=$2 ;;
      --source-root) SOURCE_ROOT=${2%/} ;;
      --dest) DEST=${2%/} ;;
      --storage-root) STORAGE_ROOT=${2%/} ;;
      --old-host-key) HOST_KEY=$2 ;;
      *) die 2 "unknown option $1" ;;
    esac
    shift 2
  done
  [[ $OLD =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die 2 "--old must be the old box's IPv4 address (got '$OLD')"
  [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || die 2 "--port must be a port number (got '$PORT')"
}

need() {
  local name=$1 value=$2
  [[ $value == /* ]] || die 2 "$name must be an absolute directory (got '$value')"
}

ssh_command() {
  printf 'ssh -i %s -p %s -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s -o ConnectTimeout=20 -o ServerAliveInterval=15' \
    "$KEY" "$PORT" "$KNOWN"
}

setup() {
  [[ $HOST_KEY =~ ^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa)\ [A-Za-z0-9+/]+=*$ ]] ||
    die 2 "--old-host-key must be the old box's public host key (\"ssh-ed25519 AAAA...\")"
  (umask 077 && mkdir -p "$DIR" && cat >"$KEY.tmp")
  grep -q 'BEGIN OPENSSH PRIVATE KEY' "$KEY.tmp" || {
    rm -f "$KEY.tmp"
    die 2 "stdin must be the transfer key (OpenSSH private key)"
  }
  mv -f "$KEY.tmp" "$KEY"
  if [ "$PORT" = 22 ]; then echo "$OLD $HOST_KEY"; else echo "[$OLD]:$PORT $HOST_KEY"; fi >"$KNOWN"
  chmod 0600 "$KNOWN"
  log "transfer key installed; the old box's host key is pinned for $OLD:$PORT"
}

ready() {
  [ -s "$KEY" ] && [ -s "$KNOWN" ] || die 3 "the transfer key is not installed; the program runs 'transfer.sh setup' first"
}

# rsync's progress2 lines, one every 10 seconds, so a long copy shows it is moving.
progress() {
  local line last=-10
  while IFS= read -r -d $'\r' line || [ -n "$line" ]; do
    while [[ $line == *$'\n'* ]]; do
      [ -z "${line%%$'\n'*}" ] || printf 'transfer: %s\n' "${line%%$'\n'*}"
      line=${line#*$'\n'}
    done
    if [ $((SECONDS - last)) -ge 10 ] && [ -n "${line// /}" ]; then
      printf 'transfer: progress %s\n' "$(echo "$line" | tr -s ' ')"
      last=$SECONDS
    fi
  done
}

# Exits 4 with SSH's reason when the transfer key cannot reach the old box.
check_reachable() {
  local out
  out=$(rsync -d --list-only -e "$(ssh_command)" "root@$OLD:$SOURCE_ROOT/" 2>&1) ||
    die 4 "the old box $OLD:$PORT refused the transfer key or cannot be reached: $out"
}

# rsync with the transfer key; its output goes through progress(). Whether the old box
# can be reached is asked only when rsync fails, so that a copy costs one connection.
run_rsync() {
  local rc=0
  rsync "$@" -e "$(ssh_command)" 2>&1 | progress || rc=$?
  [ $rc -ne 0 ] || return 0
  check_reachable
  die 5 "rsync failed (see above); run the step again to resume"
}

pull() {
  need --source-root "$SOURCE_ROOT"
  need --dest "$DEST"
  ready
  mkdir -p "$DEST"
  log "copying root@$OLD:$SOURCE_ROOT/ to $DEST/"
  run_rsync -aHAX --delete --partial-dir=.rsync-partial --exclude=/backup/ --info=progress2,stats2 \
    "root@$OLD:$SOURCE_ROOT/" "$DEST/"
  log "$DEST is a copy of the old box's $SOURCE_ROOT"
}

pull_backups() {
  need --source-root "$SOURCE_ROOT"
  need --dest "$DEST"
  ready
  mkdir -p "$DEST"
  log "copying the encrypted backups root@$OLD:$SOURCE_ROOT/backup/encrypted/ to $DEST/"
  run_rsync -a --delete --partial-dir=.rsync-partial --info=progress2,stats2 "root@$OLD:$SOURCE_ROOT/backup/encrypted/" "$DEST/"
  log "$DEST holds the old box's encrypted backups"
}

# "user-dir<TAB>name-before-:2," for every message file under a mailboxes/ listing.
message_keys() {
  sed -nE 's#^([^/]+/[^/]+)/(.*/)?(cur|new)/([^/:]+)(:2,.*)?$#\1\t\4#p' | sort -u
}

remote_files() {
  rsync -r --list-only -e "$(ssh_command)" "root@$OLD:$SOURCE_ROOT/mail/mailboxes/" |
    sed -nE 's/^-[^ ]* +[^ ]+ +[^ ]+ +[^ ]+ //p' || {
    check_reachable
    die 4 "could not list the old box's mailboxes"
  }
}

local_files() {
  (cd "$STORAGE_ROOT/mail/mailboxes" && find . -type f \( -path '*/cur/*' -o -path '*/new/*' \) -printf '%P\n')
}

# The files of listing $1 whose message is not in listing $2, NUL-separated.
missing_from() {
  local from=$1 other=$2
  comm -23 <(message_keys <"$from") <(message_keys <"$other") >"$from.missing"
  # Back from keys to the files that carry them.
  awk -F'\t' 'NR == FNR { want[$1 "\t" $2] = 1; next }
    { p = $0; n = split(p, parts, "/"); base = parts[n]; sub(/:2,.*/, "", base)
      if (n >= 4 && (parts[1] "/" parts[2] "\t" base) in want) printf "%s%c", p, 0 }' "$from.missing" "$from"
}

merge() {
  local direction=$1 work remote here list count
  need --source-root "$SOURCE_ROOT"
  need --storage-root "$STORAGE_ROOT"
  ready
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # the directory is known now
  trap "rm -rf '$work'" EXIT
  remote=$work/remote here=$work/here list=$work/list
  remote_files >"$remote"
  local_files >"$here"
  if [ "$direction" = in ]; then
    missing_from "$remote" "$here" >"$list"
  else
    missing_from "$here" "$remote" >"$list"
  fi
  count=$(tr -cd '\0' <"$list" | wc -c)
  if [ "$count" -eq 0 ]; then
    log "no message is missing on the $([ "$direction" = in ] && echo new || echo old) box"
    return 0
  fi
  if [ "$direction" = in ]; then
    log "copying $count message(s) that are only on the old box"
    run_rsync -a --ignore-existing --from0 --files-from="$list" --info=stats2 \
      "root@$OLD:$SOURCE_ROOT/mail/mailboxes/" "$STORAGE_ROOT/mail/mailboxes/"
  else
    log "copying $count message(s) that are only on this box to the old box"
    run_rsync -a --ignore-existing --from0 --files-from="$list" --info=stats2 \
      "$STORAGE_ROOT/mail/mailboxes/" "root@$OLD:$SOURCE_ROOT/mail/mailboxes/"
  fi
  log "done: $count message(s) copied"
}

main() {
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case $cmd in
    setup)
      parse_args "$@"
      setup
      ;;
    forget)
      [ $# -eq 0 ] || die 2 "usage: transfer.sh forget"
      rm -rf "$DIR"
      log "transfer key and pinned host key removed"
      ;;
    pull)
      parse_args "$@"
      pull
      ;;
    pull-backups)
      parse_args "$@"
      pull_backups
      ;;
    stragglers)
      parse_args "$@"
      merge in
      ;;
    push-back)
      parse_args "$@"
      merge out
      ;;
    *) die 2 "usage: transfer.sh setup|forget|pull|pull-backups|stragglers|push-back [options]; see the header of this script" ;;
  esac
}

main "$@"
