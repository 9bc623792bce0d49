#!/usr/bin/env bash
#
# transfer-gate.sh: the forced command of the migration's transfer key on the OLD box
# (see transfer-access.sh). The new box logs in with that key to run rsync; this gate lets
# through only these rsync server commands and refuses everything else:
#   - send (the new box pulls): any path inside the storage root, e.g. the pre-copy, the
#     final copy and the stragglers;
#   - receive (the new box pushes) without deleting anything: only into
#     <storage root>/mail/mailboxes/, for the mail copied back on a rollback.
# Allowed long options: --list-only (send only), --ignore-existing (receive only),
# --files-from=-, --from0, --numeric-ids, --info=FLAGS. Paths with "..", rsync's
# --protect-args (which would hide the paths from this check), --remove-source-files,
# --delete and every other option are refused.
#
# Input:  SSH_ORIGINAL_COMMAND, set by sshd.
# Changes: only what the allowed rsync writes.
# Exit codes: 1 refused.

set -euo pipefail
shopt -s extglob

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}

refuse() {
  printf 'miab-migrate transfer gate: refused: %s\n' "$*" >&2
  logger -t miab-migrate-transfer "refused: $* (command: ${SSH_ORIGINAL_COMMAND:-none})" 2>/dev/null || true
  exit 1
}

# Inside $2 (a directory), with no ".." component and no escapes.
path_within() {
  local path=$1 dir=$2
  [[ $path != *\\* && /$path/ != */../* ]] || return 1
  [ "${path%/}" = "$dir" ] || [[ $path == "$dir"/* ]]
}

main() {
  local root words sender=0 i=2 word opts
  root=$(sed -n 's/^STORAGE_ROOT=//p' "$MIAB_CONF" | tail -n 1)
  [ -n "$root" ] || refuse "no STORAGE_ROOT in $MIAB_CONF"
  read -r -a words <<<"${SSH_ORIGINAL_COMMAND:-}"
  [ "${#words[@]}" -ge 3 ] && [ "${words[0]}" = rsync ] && [ "${words[1]}" = --server ] ||
    refuse "only rsync is allowed with this key"
  if [ "${words[2]}" = --sender ]; then
    sender=1
    i=3
  fi
  # rsync's short options; the part from "e" on describes the client, not options.
  opts=${words[$i]:-}
  [[ $opts =~ ^-[A-Za-z]*(e[A-Za-z.]*)?$ ]] || refuse "unexpected option word '$opts'"
  opts=${opts%%e*}
  [[ $opts != *s* ]] || refuse "--protect-args is not allowed (the gate must see the paths)"
  i=$((i + 1))
  while [ "$i" -lt "${#words[@]}" ] && [ "${words[$i]}" != . ]; do
    word=${words[$i]}
    case $sender:$word in
      1:--list-only | ?:--files-from=- | ?:--from0 | ?:--numeric-ids | ?:--info=+([A-Za-z0-9,])) ;;
      0:--ignore-existing) ;;
      *) refuse "option $word is not allowed" ;;
    esac
    i=$((i + 1))
  done
  [ "$i" -lt "$((${#words[@]} - 1))" ] || refuse "no path given"
  for word in "${words[@]:$((i + 1))}"; do
    if [ $sender -eq 1 ]; then
      path_within "$word" "$root" || refuse "$word is outside $root"
    else
      path_within "$word" "$root/mail/mailboxes" || refuse "writing is allowed only into $root/mail/mailboxes/ (got $word)"
    fi
  done
  [ $sender -eq 1 ] || [[ " ${words[*]} " == *" --ignore-existing "* ]] || refuse "writing is allowed only with --ignore-existing"
  exec "${words[@]}"
}

main "$@"
