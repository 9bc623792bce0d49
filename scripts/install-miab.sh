#!/usr/bin/env bash
#
# install-miab.sh: install (or repair) Mail-in-a-Box on a new box, unattended.
#
# Run by miab-migrate as root on the NEW box over SSH, never on the old one.
#
# Usage:
#   install-miab.sh --hostname FQDN --public-ip IPV4 --public-ipv6 IPV6 --tag vNN
#                   --admin-email ADDRESS [--timeout-seconds N]
#                   [--repo URL] [--smtp-probe HOST]   < admin-password
#
# Input:  the first admin's password as the first line of stdin (never an argument).
# Steps:  1. checks: root, Ubuntu 22.04, arguments
#         2. waits for cloud-init to finish
#         3. network checks Mail-in-a-Box would fail on, with what to do about them:
#            outbound port 25 (DigitalOcean blocks it on new accounts), Spamhaus ZEN
#         4. fetches the Mail-in-a-Box release TAG into /root/mailinabox
#         5. runs its setup/start.sh non-interactively, output in /var/log/miab-migrate/
#         6. checks that setup really finished (it exits 0 on some failures)
# Changes: /root/mailinabox, everything Mail-in-a-Box's setup changes, /var/log/miab-migrate/.
# Safe to re-run: re-running setup is Mail-in-a-Box's supported repair and upgrade path,
# and it creates keys and the first user only when they are missing.
# The whole run is bounded by --timeout-seconds (default 5400).
#
# Exit codes: 2 usage, 3 wrong system, 4 network check failed, 5 setup failed,
#             6 setup timed out.

set -euo pipefail

readonly MIAB_DIR=/root/mailinabox
readonly LOG_DIR=/var/log/miab-migrate
readonly MIAB_CONF=/etc/mailinabox.conf

HOSTNAME_ARG="" PUBLIC_IP_ARG="" PUBLIC_IPV6_ARG="" TAG="" ADMIN_EMAIL=""
TIMEOUT_SECONDS=5400
REPO=https://github.com/mail-in-a-box/mailinabox
SMTP_PROBE=aspmx.l.google.com
DEADLINE=0

die() {
  local code=$1
  shift
  printf 'install-miab: error: %s\n' "$*" >&2
  exit "$code"
}

step() { printf '==> [%s/6] %s\n' "$1" "$2"; }

usage() {
  sed -n '/^# Usage:/,/^# Input:/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  die 2 "$1"
}

parse_args() {
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage "option $1 needs a value"
    case $1 in
      --hostname) HOSTNAME_ARG=$2 ;;
      --public-ip) PUBLIC_IP_ARG=$2 ;;
      --public-ipv6) PUBLIC_IPV6_ARG=$2 ;;
      --tag) TAG=$2 ;;
      --admin-email) ADMIN_EMAIL=$2 ;;
      --timeout-seconds) TIMEOUT_SECONDS=$2 ;;
      --repo) REPO=$2 ;;
      --smtp-probe) SMTP_PROBE=$2 ;;
      *) usage "unknown option $1" ;;
    esac
    shift 2
  done
  # An empty PRIMARY_HOSTNAME makes Mail-in-a-Box exit 0 without installing anything.
  [ -n "$HOSTNAME_ARG" ] || usage "--hostname is required"
  [[ $HOSTNAME_ARG =~ ^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$ ]] ||
    usage "--hostname must be a fully qualified domain name (got '$HOSTNAME_ARG')"
  [[ $PUBLIC_IP_ARG =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] ||
    usage "--public-ip must be an IPv4 address (got '$PUBLIC_IP_ARG')"
  [[ $PUBLIC_IPV6_ARG =~ ^[0-9a-fA-F:]+$ && $PUBLIC_IPV6_ARG == *:* ]] ||
    usage "--public-ipv6 must be an IPv6 address (got '$PUBLIC_IPV6_ARG')"
  [[ $TAG =~ ^v[0-9]+(\.[0-9]+)*[a-z]?$ ]] || usage "--tag must be a Mail-in-a-Box release tag such as v75 (got '$TAG')"
  [[ $ADMIN_EMAIL =~ ^[A-Za-z0-9._%+-]+@([a-z0-9-]+\.)+[a-z]{2,}$ ]] ||
    usage "--admin-email must be an email address (got '$ADMIN_EMAIL')"
  [[ $TIMEOUT_SECONDS =~ ^[0-9]+$ && $TIMEOUT_SECONDS -ge 1 ]] ||
    usage "--timeout-seconds must be a positive number (got '$TIMEOUT_SECONDS')"
}

# Seconds left before the deadline; dies once it has passed.
remaining() {
  local left=$((DEADLINE - $(date +%s)))
  [ "$left" -gt 0 ] || die 6 "the install did not finish within ${TIMEOUT_SECONDS} seconds (see ${LOG_DIR}/install.log); run pulumi up again to retry, setup is safe to re-run"
  echo "$left"
}

read_password() {
  # Without EMAIL_PW, setup would prompt on a terminal that is not there.
  IFS= read -r ADMIN_PASSWORD || true
  [ "${#ADMIN_PASSWORD}" -ge 8 ] || die 2 "the admin password must come on stdin, at least 8 characters"
}

check_system() {
  [ "$(id -u)" -eq 0 ] || die 3 "must run as root"
  local id="" version=""
  # shellcheck source=/dev/null
  [ -r /etc/os-release ] && { id=$(. /etc/os-release && echo "${ID:-}"); version=$(. /etc/os-release && echo "${VERSION_ID:-}"); }
  if [ "$id" != ubuntu ] || [ "$version" != 22.04 ]; then
    die 3 "Mail-in-a-Box ${TAG} installs only on Ubuntu 22.04; this box runs ${id:-unknown} ${version:-unknown}. Use the image ubuntu-22-04-x64 (config newServer.image)."
  fi
}

wait_for_cloud_init() {
  if ! command -v cloud-init >/dev/null; then
    echo "cloud-init is not installed: nothing to wait for"
    return
  fi
  # apt is locked and the host keys are not final until cloud-init is done.
  local left
  left=$(remaining)
  if ! timeout "$left" cloud-init status --wait >/dev/null; then
    local status
    status=$(cloud-init status 2>&1 || true)
    case $status in
      *done*) ;;
      *) die 5 "cloud-init did not finish cleanly: ${status}. See /var/log/cloud-init-output.log" ;;
    esac
  fi
}

check_network() {
  # Mail-in-a-Box's setup/network-checks.sh makes the same checks but says less about the fix.
  # shellcheck disable=SC2016 # $1 expands in the inner shell, which gets the host as an argument.
  if ! timeout 10 bash -c 'exec 3<>"/dev/tcp/$1/25"' _ "$SMTP_PROBE" 2>/dev/null; then
    die 4 "outbound port 25 is blocked: could not connect to ${SMTP_PROBE}:25. Mail-in-a-Box needs it to deliver mail. DigitalOcean blocks SMTP on new accounts: open a support ticket asking them to allow outbound SMTP for this droplet, then run pulumi up again."
  fi
  local reversed listed
  reversed=$(awk -F. '{print $4"."$3"."$2"."$1}' <<<"$PUBLIC_IP_ARG")
  listed=$(getent hosts "${reversed}.zen.spamhaus.org" 2>/dev/null | awk 'NR==1{print $1}' || true)
  case $listed in
    "") ;;
    127.255.255.*) echo "warning: Spamhaus refused the query (${listed}): the DNSBL status of ${PUBLIC_IP_ARG} is unknown" ;;
    127.0.0.*)
      die 4 "the droplet's address ${PUBLIC_IP_ARG} is listed in the Spamhaus Block List (${listed}); mail from it would be rejected. See https://check.spamhaus.org/ . Destroy this droplet and provision another (its address changes), or ask Spamhaus for delisting, then run pulumi up again." ;;
  esac
}

fetch_miab() {
  if [ -d "$MIAB_DIR/.git" ]; then
    git -C "$MIAB_DIR" fetch --quiet --depth 1 origin "refs/tags/${TAG}:refs/tags/${TAG}"
  else
    rm -rf "$MIAB_DIR.tmp"
    git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$TAG" "$REPO" "$MIAB_DIR.tmp"
    mv "$MIAB_DIR.tmp" "$MIAB_DIR"
  fi
  git -C "$MIAB_DIR" -c advice.detachedHead=false checkout --quiet "refs/tags/${TAG}"
  echo "Mail-in-a-Box ${TAG} at commit $(git -C "$MIAB_DIR" rev-parse HEAD)"
}

run_setup() {
  mkdir -p "$LOG_DIR"
  chmod 0700 "$LOG_DIR"
  local log=$LOG_DIR/install.log status=0 left
  left=$(remaining)
  echo "setup output follows (also in ${log})"
  # The password goes through the environment, which other users cannot read; it is
  # never printed. Mail-in-a-Box's setup/firstuser.sh passes it to management/cli.py.
  export EMAIL_PW=$ADMIN_PASSWORD
  (
    cd "$MIAB_DIR"
    NONINTERACTIVE=1 PRIMARY_HOSTNAME=$HOSTNAME_ARG PUBLIC_IP=$PUBLIC_IP_ARG PUBLIC_IPV6=$PUBLIC_IPV6_ARG \
      EMAIL_ADDR=$ADMIN_EMAIL timeout --kill-after=30 "$left" bash setup/start.sh </dev/null 2>&1
  ) | tee -a "$log" || status=${PIPESTATUS[0]}
  unset EMAIL_PW
  case $status in
    0) ;;
    124 | 137) die 6 "Mail-in-a-Box setup did not finish within ${TIMEOUT_SECONDS} seconds (see ${log}); run pulumi up again to retry, setup is safe to re-run" ;;
    *) explain_failure "$log" "$status" ;;
  esac
}

explain_failure() {
  local log=$1 status=$2
  if tail -n 40 "$log" | grep -q "port 25) seems to be blocked"; then
    die 4 "Mail-in-a-Box setup stopped: outbound port 25 is blocked. DigitalOcean blocks SMTP on new accounts: ask their support to allow it, then run pulumi up again."
  elif tail -n 40 "$log" | grep -q "listed in the Spamhaus"; then
    die 4 "Mail-in-a-Box setup stopped: the address or hostname is on a Spamhaus block list (details in ${log})."
  elif tail -n 40 "$log" | grep -q "only supports being installed on Ubuntu"; then
    die 3 "Mail-in-a-Box setup stopped: wrong Ubuntu release (details in ${log}). Use the image ubuntu-22-04-x64."
  fi
  die 5 "Mail-in-a-Box setup failed with exit code ${status}; its last lines are above and all of it is in ${log}"
}

verify_setup() {
  # setup/start.sh exits 0 without installing when a preflight check fails (low memory,
  # noexec /tmp): check its results instead of trusting its exit code.
  grep -qx "PRIMARY_HOSTNAME=${HOSTNAME_ARG}" "$MIAB_CONF" 2>/dev/null ||
    die 5 "setup exited without configuring ${HOSTNAME_ARG} in ${MIAB_CONF}; see ${LOG_DIR}/install.log"
  timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/10222' 2>/dev/null ||
    die 5 "setup finished but the Mail-in-a-Box management daemon does not answer on 127.0.0.1:10222; see ${LOG_DIR}/install.log and 'systemctl status mailinabox'"
}

main() {
  parse_args "$@"
  DEADLINE=$(($(date +%s) + TIMEOUT_SECONDS))
  read_password
  step 1 "checking the system"
  check_system
  step 2 "waiting for cloud-init"
  wait_for_cloud_init
  step 3 "checking the network (outbound port 25, Spamhaus)"
  check_network
  step 4 "fetching Mail-in-a-Box ${TAG}"
  fetch_miab
  step 5 "running Mail-in-a-Box setup for ${HOSTNAME_ARG} (this takes 10 to 30 minutes)"
  run_setup
  step 6 "checking the result"
  verify_setup
  echo "Mail-in-a-Box ${TAG} is installed on ${HOSTNAME_ARG}"
}

main "$@"
