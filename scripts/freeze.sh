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
#   freeze.sh close --ssh-port PORT   stop Dovecot; firewall (ufw): of its user rules
#                                     (`ufw allow`, `ufw limit`) only those for PORT stay
#                                     (SSH, still rate-limited; "allow PORT/tcp" if there
#                                     is none); stop Postfix: the mail store stays still
#                                     for the copy
#   freeze.sh open                    firewall and services back as they were before
#                                     close; Postfix's queue flushed
#   freeze.sh status                  prints "frozen" or "serving"
#
# Changes: ufw's user rules and policy (/etc/ufw/user*.rules and /etc/default/ufw; all of
#          /etc/ufw saved first), the postfix and dovecot services.
# State:   /root/miab-migrate/freeze/ holds what `open` puts back: a copy of /etc/ufw and
#          /etc/default/ufw, and the services that were running. It is written before anything
#          changes and removed only after everything is back: an interrupted run is
#          finished by running the same command again; running it twice changes nothing.
# Exit codes: 2 usage, 3 system (ufw missing, its rule files not as ufw writes them, a
#             service does not start).

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

# Rewrites ufw's rule file $1 (if there is one) so that of its user rules (between
# "### RULES ###" and "### END RULES ###") only those for incoming port $2 stay, as they
# were: Mail-in-a-Box's rate limit, an address allowed or denied by the administrator or
# by ssh-access.sh. A file with no rule that lets port $2 in gets "allow $2/tcp", as
# `ufw allow $2/tcp` writes it ($3: the input chain, $4: "any address" in the file's
# family), so that SSH stays open. The file is replaced in one rename, with ufw's mode.
freeze_rule_file() {
  local file=$1 port=$2 chain=$3 any=$4
  [ -f "$file" ] || return 0
  grep -qx '### RULES ###' "$file" && grep -qx '### END RULES ###' "$file" ||
    die 3 "$file is not in the format ufw writes (no '### RULES ###' ... '### END RULES ###' section): close the firewall by hand (ufw reset; ufw allow $port/tcp; ufw enable), then run again"
  (
    umask 027
    # A rule is its "### tuple ###" line (action proto dport dst sport src direction) and
    # the iptables lines after it, up to a blank line.
    awk -v port="$port" -v tuple="### tuple ### allow tcp $port $any any $any in" -v rule="-A $chain -p tcp --dport $port -j ACCEPT" '
      function flush() {
        if (block != "" && keep) { print block; print "" }
        block = ""; keep = 0
      }
      /^### RULES ###$/ { print; print ""; inside = 1; next }
      /^### END RULES ###$/ { flush(); if (!opens) { print tuple; print rule; print "" } inside = 0; print; next }
      !inside { print; next }
      /^### tuple ### / {
        flush(); block = $0
        keep = $6 == port && ($5 == "tcp" || $5 == "any") && $10 ~ /^in(_|$)/
        if (keep && ($4 == "allow" || $4 == "limit")) opens = 1
        next
      }
      /^$/ { flush(); next }
      { block = block "\n" $0 }' "$file" >"$file.miab-migrate"
  )
  mv "$file.miab-migrate" "$file"
}

policy_is() { grep -q "^$1=\"$2\"" /etc/default/ufw; }

# ufw is enabled and its chains are loaded.
ufw_running() { grep -q '^ENABLED=yes' /etc/ufw/ufw.conf && iptables -n -L ufw-user-input >/dev/null 2>&1; }

# Mail-in-a-Box opens its ports with `ufw allow` (SSH with `ufw limit`): of those user
# rules only SSH's stay, rate limit included, in ufw's files (so a reboot or `ufw reload`
# keeps the box closed) and in the running firewall at once. A running firewall is
# changed the way ufw itself loads user rules (iptables-restore -n of the same file),
# which replaces the user chains in one step: no moment with the firewall open, as
# `ufw reset` would have. ufw's before/after rules (established connections, ICMP, DHCP)
# stay as they are.
close_firewall() {
  local port=$1
  [ -f /etc/ufw/user.rules ] || die 3 "/etc/ufw/user.rules is missing: reinstall ufw (apt-get install --reinstall ufw), then run again"
  freeze_rule_file /etc/ufw/user.rules "$port" ufw-user-input 0.0.0.0/0
  freeze_rule_file /etc/ufw/user6.rules "$port" ufw6-user-input ::/0
  policy_is DEFAULT_INPUT_POLICY DROP || policy_is DEFAULT_INPUT_POLICY REJECT || ufw default deny incoming >/dev/null
  policy_is DEFAULT_OUTPUT_POLICY ACCEPT || ufw default allow outgoing >/dev/null
  if ufw_running; then
    iptables-restore -n </etc/ufw/user.rules
    if grep -q '^IPV6=yes' /etc/default/ufw && [ -f /etc/ufw/user6.rules ]; then ip6tables-restore -n </etc/ufw/user6.rules; fi
  else
    ufw --force enable >/dev/null
  fi
  log "firewall: only $port/tcp (SSH) open"
}

close() {
  local port=$1 s
  command -v ufw >/dev/null || die 3 "ufw is not installed; Mail-in-a-Box installs it unless DISABLE_FIREWALL was set: install ufw, then run again"
  if [ -e "$STATE" ]; then
    log "already frozen (state in $STATE); making sure everything is closed"
  else
    save_state
  fi
  # Dovecot first: IMAP and POP3 logins end, and Dovecot's own stop takes a second or more
  # (its master waits a second for its last processes), during which SMTP still takes
  # mail: Postfix queues what it cannot hand to Dovecot (a temporary LMTP failure, never
  # a bounce), and the queue moves on with the old box's Postfix (relay.sh, or thaw). Then
  # SMTP closes: senders meet a closed port only from there on.
  if systemctl is-active --quiet dovecot; then systemctl stop dovecot; fi
  close_firewall "$port"
  if systemctl is-active --quiet postfix; then systemctl stop postfix; fi
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
  # Mail Postfix queued while Dovecot was stopping goes out now, not at the next queue run.
  if grep -qx postfix "$STATE/services"; then postqueue -f; fi
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
