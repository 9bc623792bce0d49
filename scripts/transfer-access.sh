#!/usr/bin/env bash
#
# transfer-access.sh: let the new box reach the OLD box's mail store over SSH with the key
# made for the migration, and nothing else; or take that access away again.
#
# Run by miab-migrate as root on the OLD box: `grant` from `provision` on, `revoke` when
# the migration no longer needs it (decommission) or `provision` is undone.
#
# Usage:
#   transfer-access.sh grant --from IPV4 < public-key   the key may log in as root only
#                                                       from IPV4, with no terminal and
#                                                       no forwarding, and only run
#                                                       transfer-gate.sh (rsync, checked)
#   transfer-access.sh revoke                           remove that key
#
# Changes: one line, marked "miab-migrate-transfer", in /root/.ssh/authorized_keys.
# Safe to re-run: grant replaces the marked line, revoke removes it if present.
# Exit codes: 2 usage, 3 sshd refuses root logins or the gate is missing.

set -euo pipefail

readonly MARK=miab-migrate-transfer
readonly GATE=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/transfer-gate.sh
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
  local from=$1 key tmp
  IFS= read -r key || true
  [[ $key =~ ^ssh-ed25519\ [A-Za-z0-9+/]+=*( .*)?$ ]] || die 2 "stdin must be the transfer key's public key (ssh-ed25519 AAAA...)"
  [ -x "$GATE" ] || die 3 "$GATE is missing; it is uploaded before this step runs"
  if sshd -T 2>/dev/null | grep -qx 'permitrootlogin no'; then
    die 3 "sshd has PermitRootLogin no: set 'PermitRootLogin forced-commands-only' (enough for this key) in /etc/ssh/sshd_config, reload sshd, run again"
  fi
  key=$(cut -d' ' -f1,2 <<<"$key")
  tmp=$(without_mark)
  printf 'restrict,from="%s",command="%s" %s %s\n' "$from" "$GATE" "$key" "$MARK" >>"$tmp"
  mv -f "$tmp" "$KEYS"
  echo "transfer-access: the transfer key may log in from $from and run only $GATE"
}

revoke() {
  local tmp
  tmp=$(without_mark)
  mv -f "$tmp" "$KEYS"
  echo "transfer-access: the transfer key is no longer authorised"
}

main() {
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  case ${1:-} in
    grant)
      [ $# -eq 3 ] && [ "$2" = --from ] && [[ $3 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] ||
        die 2 "usage: transfer-access.sh grant --from IPV4 < public-key"
      grant "$3"
      ;;
    revoke)
      [ $# -eq 1 ] || die 2 "usage: transfer-access.sh revoke"
      revoke
      ;;
    *) die 2 "usage: transfer-access.sh grant --from IPV4 < public-key | revoke" ;;
  esac
}

main "$@"
