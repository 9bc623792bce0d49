#!/usr/bin/env bash
#
# transfer-access.sh: let the new box reach the OLD box's mail store over SSH with the key
# made for the migration, and nothing else; or take that access away again.
#
# Run by miab-migrate as root on the OLD box: `grant` from `provision` on, `revoke` when
# the migration no longer needs it (decommission) or `provision` is undone.
#
# Usage:
#   transfer-access.sh grant --from IPV4 --port PORT < public-key
#       the key may log in as root only from IPV4, with no terminal and no forwarding, and
#       only run transfer-gate.sh (rsync, checked); IPV4 passes Mail-in-a-Box's SSH rate
#       limit on PORT (ssh-access.sh, label "transfer"), as a copy may take several
#       connections in a row
#   transfer-access.sh revoke
#       remove that key and that ufw rule
#
# Changes: one line, marked "miab-migrate-transfer", in /root/.ssh/authorized_keys; one
#          ufw rule (see ssh-access.sh).
# Safe to re-run: grant replaces the marked line and the rule, revoke removes them if present.
# Exit codes: 2 usage, 3 sshd refuses root logins, the gate is missing, or ufw failed.

set -euo pipefail

readonly MARK=miab-migrate-transfer
readonly DIR=${MIAB_MIGRATE_DIR:-/root/miab-migrate}
readonly GATE=$DIR/transfer-gate.sh
readonly SSH_ACCESS=$DIR/ssh-access.sh
readonly KEYS=/root/.ssh/authorized_keys

die() {
  local code=$1
  shift
  printf 'transfer-access: error: %s\n' "$*" >&2
  exit "$code"
}

# authorized_keys without our line, written atomically with its owner and mode.
without_mark() {
  local tmp=$KEYS.miab-migrate.tmp
  (umask 077 && mkdir -p /root/.ssh && touch "$KEYS")
  grep -v " $MARK\$" "$KEYS" >"$tmp" || true
  chmod 0600 "$tmp"
  printf '%s\n' "$tmp"
}

grant() {
  local from=$1 port=$2 key tmp
  IFS= read -r key || true
  [[ $key =~ ^ssh-ed25519\ [A-Za-z0-9+/]+=*( .*)?$ ]] || die 2 "stdin must be the transfer key's public key (ssh-ed25519 AAAA...)"
  [ -x "$GATE" ] || die 3 "$GATE is missing; it is uploaded before this step runs"
  [ -x "$SSH_ACCESS" ] || die 3 "$SSH_ACCESS is missing; the program installs it before every other step"
  if sshd -T 2>/dev/null | grep -qx 'permitrootlogin no'; then
    die 3 "sshd has PermitRootLogin no: set 'PermitRootLogin forced-commands-only' (enough for this key) in /etc/ssh/sshd_config, reload sshd, run again"
  fi
  key=$(cut -d' ' -f1,2 <<<"$key")
  tmp=$(without_mark)
  printf 'restrict,from="%s",command="%s" %s %s\n' "$from" "$GATE" "$key" "$MARK" >>"$tmp"
  mv -f "$tmp" "$KEYS"
  echo "transfer-access: the transfer key may log in from $from and run only $GATE"
  "$SSH_ACCESS" allow --label transfer --port "$port" --from "$from" || exit 3
}

revoke() {
  local tmp
  tmp=$(without_mark)
  mv -f "$tmp" "$KEYS"
  echo "transfer-access: the transfer key is no longer authorised"
  if [ -x "$SSH_ACCESS" ]; then "$SSH_ACCESS" remove --label transfer || exit 3; fi
}

main() {
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  case ${1:-} in
    grant)
      [ $# -eq 5 ] && [ "$2" = --from ] && [[ $3 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] && [ "$4" = --port ] &&
        [[ $5 =~ ^[1-9][0-9]{0,4}$ ]] && [ "$5" -le 65535 ] ||
        die 2 "usage: transfer-access.sh grant --from IPV4 --port PORT < public-key"
      grant "$3" "$5"
      ;;
    revoke)
      [ $# -eq 1 ] || die 2 "usage: transfer-access.sh revoke"
      revoke
      ;;
    *) die 2 "usage: transfer-access.sh grant --from IPV4 --port PORT < public-key | revoke" ;;
  esac
}

main "$@"
