#!/usr/bin/env bash
#
# freeze.sh: stop the OLD box taking mail and logins, or let it serve again exactly as
# before. As in Mail-in-a-Box's own move procedure only SSH stays open; senders meet a
# closed port and retry later (never a 5xx, so nothing bounces).
#
# Run by miab-migrate as root on the OLD box: `close` when the `freeze` phase is applied,
# `open` when it is undone (phase set back before freeze).
#
# Usage:
#   freeze.sh close --ssh-port PORT   firewall (ufw): only PORT/tcp open; stop Postfix and
#                                     Dovecot so the mail store stays still for the copy
#   freeze.sh open                    firewall and services back as they were before close
#   freeze.sh status                  prints "frozen" or "serving"
#
# Changes: ufw's rules and policy (/etc/ufw and /etc/default/ufw, saved first), the
#          postfix and dovecot services.
# State:   /root/miab-migrate/freeze/ holds what `open` puts back: a copy of /etc/ufw and
#          /etc/default/ufw, and the services that were running. It is written before anything
#          changes and removed only after everything is back: an interrupted run is
#          finished by running the same command again; running it twice changes nothing.
# Exit codes: 2 usage, 3 system (ufw missing, a service does not start).

set -euo pipefail

readonly STATE=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/freeze
readonly SERVICES=(postfix dovecot)

die() {
  local code=$1
  shift
  printf 'freeze: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'freeze: %s\n' "$*"; }

save_state() {
  local tmp=$STATE.tmp s
  rm -rf "$tmp"
  (umask 077 && mkdir -p "$tmp")
  cp -a /etc/ufw "$tmp/etc-ufw"
  cp -p /etc/default/ufw "$tmp/default-ufw"
  for s in "${SERVICES[@]}"; do
    if systemctl is-active --quiet "$s"; then echo "$s"; fi
  done >"$tmp/services"
  mv "$tmp" "$STATE"
  log "saved the firewall rules and running services ($(paste -sd' ' "$STATE/services")) to $STATE"
}

close() {
  local port=$1 s
  command -v ufw >/dev/null || die 3 "ufw is not installed; Mail-in-a-Box installs it unless DISABLE_FIREWALL was set: install ufw, then run again"
  if [ -e "$STATE" ]; then
    log "already frozen (state in $STATE); making sure everything is closed"
  else
    save_state
  fi
  if [ ! -e "$STATE/firewall-closed" ]; then
    # `ufw reset` also puts back the default before/after rules and leaves copies of the
    # old ones beside them: `open` puts the whole saved /etc/ufw back.
    ufw --force reset >/dev/null
    ufw default deny incoming >/dev/null
    ufw default allow outgoing >/dev/null
    ufw allow "$port/tcp" >/dev/null
    ufw --force enable >/dev/null
    touch "$STATE/firewall-closed"
  fi
  log "firewall: only $port/tcp (SSH) open"
  for s in "${SERVICES[@]}"; do
    if systemctl is-active --quiet "$s"; then systemctl stop "$s"; fi
  done
  log "stopped: ${SERVICES[*]}; the old box now takes no mail and no logins"
}

open() {
  local s
  if [ ! -e "$STATE" ]; then
    log "not frozen; nothing to do"
    return 0
  fi
  rm -rf /etc/ufw.miab-migrate
  cp -a "$STATE/etc-ufw" /etc/ufw.miab-migrate
  rm -rf /etc/ufw
  mv /etc/ufw.miab-migrate /etc/ufw
  cp -p "$STATE/default-ufw" /etc/default/ufw
  if grep -q '^ENABLED=yes' /etc/ufw/ufw.conf 2>/dev/null; then
    ufw reload >/dev/null
    log "firewall: rules from before the freeze reloaded"
  else
    ufw --force disable >/dev/null
    log "firewall: disabled, as it was before the freeze"
  fi
  while IFS= read -r s; do
    [ -n "$s" ] || continue
    systemctl start "$s" || die 3 "$s did not start; see: journalctl -u $s. The freeze state stays in $STATE; run again when fixed"
  done <"$STATE/services"
  log "started: $(paste -sd' ' "$STATE/services")"
  rm -rf "$STATE"
  log "the old box serves again"
}

main() {
  [ $# -ge 1 ] || die 2 "usage: freeze.sh close --ssh-port PORT | open | status"
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  case $1 in
    close)
      if ! { [ $# -eq 3 ] && [ "$2" = --ssh-port ] && [[ $3 =~ ^[1-9][0-9]{0,4}$ ]] && [ "$3" -le 65535 ]; }; then
        die 2 "usage: freeze.sh close --ssh-port PORT (PORT 1-65535)"
      fi
      close "$3"
      ;;
    open)
      [ $# -eq 1 ] || die 2 "usage: freeze.sh open"
      open
      ;;
    status)
      [ $# -eq 1 ] || die 2 "usage: freeze.sh status"
      if [ -e "$STATE" ]; then echo frozen; else echo serving; fi
      ;;
    *) die 2 "unknown command '$1'; commands: close, open, status" ;;
  esac
}

main "$@"
