#!/usr/bin/env bash
#
# relay.sh: after the cutover, let the frozen OLD box take mail on port 25 again, only to
# pass all of it on to the new box. Some resolvers keep the old address for days past the
# TTL; what they send must reach the new box, never a mailbox on the old one that nobody
# reads. IMAP, POP and webmail stay closed (Dovecot stays stopped).
#
# Run by miab-migrate as root on the OLD box: `on` from the cutover on, `off` when the
# cutover is undone or at decommission (the old box is then frozen again).
#
# Usage:
#   relay.sh on --to IPV4   Postfix delivers every mailbox of its domains to IPV4:25
#                           through its own smtp transport "miab-relay" (master.cf), with
#                           soft_bounce=yes (via postfix-settings.sh); port 25 open in
#                           ufw; Postfix started and its queue flushed (mail held since
#                           the freeze goes to the new box too)
#   relay.sh off            the reverse: Postfix stopped, port 25 closed, settings back
#
# Both boxes have the same name, so Postfix would take the new box's greeting for a mail
# loop and bounce the message (5.4.6): the relay transport introduces itself as
# migrate-relay.<myhostname> instead. soft_bounce keeps in the queue whatever the new box
# refuses, so nothing relayed is ever bounced.
#
# Changes: Postfix's virtual_transport and soft_bounce, the miab-relay service in
#          master.cf, ufw's rule for 25/tcp, the postfix service.
# Safe to re-run. Exit codes: 2 usage, 3 the old box is not frozen.

set -euo pipefail

readonly DIR=${MIAB_MIGRATE_DIR:-/root/miab-migrate}

die() {
  local code=$1
  shift
  printf 'relay: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'relay: %s\n' "$*"; }

on() {
  local to=$1
  [ -e "$DIR/freeze" ] || die 3 "the old box is not frozen (freeze.sh close has not run): refusing to relay a box that still delivers locally"
  postconf -M "miab-relay/unix=miab-relay unix - - n - - smtp"
  postconf -P "miab-relay/unix/myhostname=migrate-relay.$(postconf -h myhostname)"
  "$DIR/postfix-settings.sh" apply relay "virtual_transport=miab-relay:[$to]:25" "soft_bounce=yes"
  ufw allow 25/tcp >/dev/null
  systemctl start postfix
  postqueue -f
  log "port 25 open; every message for this box's mailboxes now goes to $to"
}

off() {
  if systemctl is-active --quiet postfix; then systemctl stop postfix; fi
  ufw --force delete allow 25/tcp >/dev/null 2>&1 || true
  "$DIR/postfix-settings.sh" restore relay
  postconf -MX miab-relay/unix
  log "port 25 closed, Postfix stopped: the old box is frozen again"
}

main() {
  [ "$(id -u)" -eq 0 ] || die 2 "must run as root"
  case ${1:-} in
    on)
      [ $# -eq 3 ] && [ "$2" = --to ] && [[ $3 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die 2 "usage: relay.sh on --to IPV4"
      on "$3"
      ;;
    off)
      [ $# -eq 1 ] || die 2 "usage: relay.sh off"
      off
      ;;
    *) die 2 "usage: relay.sh on --to IPV4 | off" ;;
  esac
}

main "$@"
