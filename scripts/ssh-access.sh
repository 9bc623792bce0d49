#!/usr/bin/env bash
#
# ssh-access.sh: let one address past Mail-in-a-Box's SSH rate limit, or take that away.
#
# Mail-in-a-Box opens SSH with `ufw limit` (setup/system.sh): a sixth new connection from
# one address within 30 seconds is refused, and every refused attempt counts again, so a
# client that retries stays locked out. miab-migrate opens one SSH connection per step
# (several at once when it uploads its scripts), and the new box's rsync one per copy. So
# the address each comes from is allowed first, by a rule put before the limit and marked
# with a comment: `ufw status` shows it as "# miab-migrate LABEL".
#
# Run by miab-migrate as root, as the first command on each box in every `pulumi up` that
# changes the phase (label "operator", the address the program connects from, as sshd saw
# it), and by transfer-access.sh on the OLD box for the new box's address (label
# "transfer").
#
# Usage:
#   ssh-access.sh allow --label LABEL --port PORT --from ADDRESS [--run ID]
#       allow ADDRESS (IPv4 or IPv6) to PORT/tcp, before every other rule; rules of LABEL
#       for any other address or port are removed (the program's address may change
#       between runs, a CI runner's always does). ID names the run that owns the rule.
#   ssh-access.sh remove --label LABEL [--run ID]
#       remove the rules of LABEL, unless a later run (another ID) owns them
#   ssh-access.sh status
#       the marked rules, one "LABEL PORT ADDRESS" per line
#
# Changes: ufw's user rules (through ufw itself), only rules with our comment. A rule the
#          administrator already has for the same address and port is left alone and never
#          removed. Without ufw, or with IPv6 off in ufw for an IPv6 address, there is no
#          limit to pass and nothing changes.
# State:   /root/miab-migrate/ssh-access/LABEL: the ID of the run that owns LABEL's rules.
# Safe to re-run. Exit codes: 2 usage, 3 ufw failed.

set -euo pipefail

readonly STATE=${MIAB_MIGRATE_DIR:-/root/miab-migrate}/ssh-access

die() {
  local code=$1
  shift
  printf 'ssh-access: error: %s\n' "$*" >&2
  exit "$code"
}

log() { printf 'ssh-access: %s\n' "$*"; }

usage() {
  die 2 "usage: ssh-access.sh allow --label LABEL --port PORT --from ADDRESS [--run ID] | remove --label LABEL [--run ID] | status"
}

# ufw keeps a rule's comment hex-encoded at the end of its "### tuple ###" line.
comment_of() { printf 'comment=%s' "$(printf 'miab-migrate %s' "$1" | od -An -tx1 | tr -d ' \n')"; }

# "PORT ADDRESS COMMENT" for every incoming TCP allow rule from one address to one port.
allow_rules() {
  local f
  for f in /etc/ufw/user.rules /etc/ufw/user6.rules; do
    [ -f "$f" ] || continue
    awk '$1 == "###" && $2 == "tuple" && $4 == "allow" && $5 == "tcp" && $10 == "in" && $6 ~ /^[0-9]+$/ &&
         $9 != "0.0.0.0/0" && $9 != "::/0" { print $6, $9, ($11 == "" ? "-" : $11) }' "$f"
  done
}

# Whether ufw meets a rate limit on PORT before the rule that allows ADDRESS to it.
limit_first() {
  local port=$1 address=$2 file=/etc/ufw/user.rules
  [[ $address != *:* ]] || file=/etc/ufw/user6.rules
  awk -v p="$port" -v a="$address" 'BEGIN { r = 1 }
    $1 == "###" && $2 == "tuple" && $5 == "tcp" && $6 == p && $10 == "in" {
      if ($4 == "limit") { r = 0; exit }
      if ($4 == "allow" && $9 == a) exit
    }
    END { exit r }' "$file"
}

# "PORT ADDRESS" of LABEL's rules.
rules_of() {
  local mark
  mark=$(comment_of "$1")
  allow_rules | awk -v m="$mark" '$3 == m { print $1, $2 }'
}

delete_rule() {
  local port=$1 address=$2
  ufw delete allow from "$address" to any port "$port" proto tcp >/dev/null || die 3 "ufw could not delete the rule for $address to $port/tcp"
}

allow() {
  local label=$1 port=$2 address=$3 run=$4 p a existing
  if ! command -v ufw >/dev/null; then
    log "ufw is not installed: no SSH rate limit to pass"
    return 0
  fi
  if [[ $address == *:* ]] && ! grep -q '^IPV6=yes' /etc/default/ufw; then
    log "ufw does not filter IPv6 (IPV6=no in /etc/default/ufw): no SSH rate limit for $address to pass"
    return 0
  fi
  existing=$(allow_rules | awk -v p="$port" -v a="$address" '$1 == p && $2 == a { print $3 }' | head -n1)
  if [ -z "$existing" ]; then
    ufw prepend allow from "$address" to any port "$port" proto tcp comment "miab-migrate $label" >/dev/null ||
      die 3 "ufw could not add the rule for $address to $port/tcp"
    log "$address may open SSH connections to port $port without the rate limit (ufw rule '# miab-migrate $label')"
  elif [ "$existing" = "$(comment_of "$label")" ]; then
    log "$address already passes the rate limit on port $port"
  elif limit_first "$port" "$address"; then
    die 3 "an existing rule allows $address to port $port, but after the rate limit, where it does not help (ufw status numbered); ufw will not add a second one: remove it (ufw delete allow from $address to any port $port proto tcp), then run again"
  else
    log "an existing rule already allows $address to port $port; it is left as it is"
  fi
  while read -r p a; do
    [ -n "$p" ] || continue
    [ "$p $a" != "$port $address" ] || continue
    delete_rule "$p" "$a"
    log "removed the earlier rule for $a to port $p"
  done < <(rules_of "$label")
  (umask 077 && mkdir -p "$STATE" && printf '%s\n' "$run" >"$STATE/$label.tmp" && mv -f "$STATE/$label.tmp" "$STATE/$label")
}

remove() {
  local label=$1 run=$2 owner p a
  owner=$(cat "$STATE/$label" 2>/dev/null || true)
  if [ -n "$run" ] && [ -n "$owner" ] && [ "$owner" != "$run" ]; then
    log "the rules of '$label' belong to run $owner, not $run: left in place"
    return 0
  fi
  if command -v ufw >/dev/null; then
    while read -r p a; do
      [ -n "$p" ] || continue
      delete_rule "$p" "$a"
      log "removed the rule for $a to port $p"
    done < <(rules_of "$label")
  fi
  rm -f "$STATE/$label"
}

status() {
  local f
  command -v ufw >/dev/null || return 0
  for f in "$STATE"/*; do
    [ -f "$f" ] || continue
    rules_of "${f##*/}" | sed "s/^/${f##*/} /"
  done
}

check_label_run() {
  [[ $1 =~ ^[a-z][a-z-]{0,30}$ ]] || die 2 "--label must be lower-case letters and dashes, got '$1'"
  [[ $2 =~ ^[A-Za-z0-9._-]{0,64}$ ]] || die 2 "--run must be letters, digits, '.', '_' or '-', got '$2'"
}

main() {
  [ $# -ge 1 ] || usage
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  local cmd=$1 label="" port="" address="" run="" canonical
  shift
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
      --label) label=$2 ;;
      --port) port=$2 ;;
      --from) address=$2 ;;
      --run) run=$2 ;;
      *) die 2 "unknown option '$1'; options: --label, --port, --from, --run" ;;
    esac
    shift 2
  done
  case $cmd in
    allow)
      check_label_run "$label" "$run"
      if ! { [[ $port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$port" -le 65535 ]; }; then die 2 "--port must be 1-65535, got '$port'"; fi
      [ -n "$address" ] || die 2 "--from is empty: the program passes the address sshd saw (\$SSH_CLIENT), which only an SSH session has"
      # In ufw's own form (it writes IPv6 compressed, lower case); sshd reports an IPv4 client
      # of a dual-stack socket as ::ffff:a.b.c.d.
      canonical=$(python3 -c 'import ipaddress, sys
a = ipaddress.ip_address(sys.argv[1])
print(a.ipv4_mapped or a if a.version == 6 else a)' "$address" 2>/dev/null) ||
        die 2 "--from must be an IPv4 or IPv6 address, got '$address'"
      allow "$label" "$port" "$canonical" "$run"
      ;;
    remove)
      check_label_run "$label" "$run"
      [ -z "$port$address" ] || usage
      remove "$label" "$run"
      ;;
    status)
      [ -z "$label$port$address$run" ] || usage
      status
      ;;
    *) die 2 "unknown command '$cmd'; commands: allow, remove, status" ;;
  esac
}

main "$@"
