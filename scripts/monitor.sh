#!/usr/bin/env bash
#
# monitor.sh: after the cutover, finish the NEW box's set-up the way Mail-in-a-Box's
# nightly job does, and report on it as one JSON document on stdout (progress on stderr).
#
# Run by miab-migrate as root on the NEW box when the `monitor` phase is applied, once DNS
# points at it (Let's Encrypt validates over HTTP on the box's name, Mail-in-a-Box #1336).
#
# Usage:  monitor.sh --ipv4 IPV4 [--miab-dir DIR]
# Steps:  1. TLS certificates: management/ssl_certificates.py -q (provisions what is
#            missing or expiring)
#         2. a backup with the old box's key and target (restored with its data):
#            management/backup.py, then management/backup.py --verify
#         3. the mail queue (postqueue -j) and whether IPV4 is listed in Spamhaus ZEN
# Output: {"certificate": {"issuer", "notAfter"}, "backup": {"verified": true},
#          "queue": N, "dnsbl": {"zone", "listed", "answer"}}
# Changes: what those Mail-in-a-Box commands change (certificates, a new backup).
# Exit codes: 2 usage, 3 not Mail-in-a-Box, 5 the backup or its verification failed.

set -euo pipefail

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}
readonly ZONE=zen.spamhaus.org

IPV4="" MIAB_DIR=/root/mailinabox

die() {
  local code=$1
  shift
  printf 'monitor: error: %s\n' "$*" >&2
  exit "$code"
}

step() { printf 'monitor: [%s/3] %s\n' "$1" "$2" >&2; }

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/ }
  printf '"%s"' "$s"
}

parse_args() {
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die 2 "option $1 needs a value"
    case $1 in
      --ipv4) IPV4=$2 ;;
      --miab-dir) MIAB_DIR=$2 ;;
      *) die 2 "unknown option $1" ;;
    esac
    shift 2
  done
  [[ $IPV4 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die 2 "--ipv4 must be the new box's IPv4 address (got '$IPV4')"
  [ -x "$MIAB_DIR/management/backup.py" ] || die 3 "$MIAB_DIR/management/backup.py not found: is Mail-in-a-Box installed?"
}

main() {
  [ "$(id -u)" -eq 0 ] || die 2 "must run as root"
  parse_args "$@"
  local root cert issuer="" not_after="" queue reversed="" answer listed=false
  root=$(sed -n 's/^STORAGE_ROOT=//p' "$MIAB_CONF" | tail -n 1)
  [ -n "$root" ] || die 3 "no STORAGE_ROOT in $MIAB_CONF"
  cd "$MIAB_DIR"

  step 1 "TLS certificates (management/ssl_certificates.py -q)"
  management/ssl_certificates.py -q >&2 || echo "monitor: certificate provisioning reported a problem (above); the restored certificates stay in use" >&2
  cert=$root/ssl/ssl_certificate.pem
  if [ -r "$cert" ]; then
    issuer=$(openssl x509 -in "$cert" -noout -issuer | sed 's/^issuer=[[:space:]]*//')
    not_after=$(openssl x509 -in "$cert" -noout -enddate | sed 's/^notAfter=//')
  fi

  step 2 "backup with the old box's key and target (management/backup.py), then --verify"
  management/backup.py >&2 || die 5 "the backup failed (above); check $root/backup/custom.yaml and the target"
  management/backup.py --verify >&2 || die 5 "the backup could not be verified (above)"

  step 3 "mail queue and Spamhaus ZEN listing of $IPV4"
  queue=$(postqueue -j 2>/dev/null | grep -c . || true)
  [[ $IPV4 =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] && reversed="${BASH_REMATCH[4]}.${BASH_REMATCH[3]}.${BASH_REMATCH[2]}.${BASH_REMATCH[1]}"
  answer=$(getent hosts "$reversed.$ZONE" | cut -d' ' -f1 || true)
  # 127.255.255.x means the query itself was refused (e.g. through a public resolver), not a listing.
  if [[ $answer == 127.0.0.* ]]; then listed=true; fi

  printf '{"certificate":{"issuer":%s,"notAfter":%s},"backup":{"verified":true},"queue":%d,"dnsbl":{"zone":"%s","listed":%s,"answer":%s}}\n' \
    "$(json_str "$issuer")" "$(json_str "$not_after")" "$queue" "$ZONE" "$listed" "$(json_str "$answer")"
}

main "$@"
