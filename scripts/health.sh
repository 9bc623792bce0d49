#!/usr/bin/env bash
#
# health.sh: is the NEW box serving? One JSON document on stdout. Read-only.
#
# Run by miab-migrate as root on the NEW box in `verify`, after the restore and setup.
#
# Usage:  health.sh
# Output: {"services": {"postfix": "active", ...},
#          "tls": {"imaps": {"ok", "detail"}, "submission": {"ok", "detail"}},
#          "statusChecks": [{"type", "text"}] | null, "statusError": "..." | null}
#         services: systemctl is-active of postfix, dovecot and nginx. tls: a TLS
#         handshake on 993 (IMAPS) and on 587 after STARTTLS (submission), on this box.
#         statusChecks: Mail-in-a-Box's own status checks from its management API on
#         127.0.0.1:10222 with the key in /var/lib/mailinabox/api.key (status_checks.py
#         always exits 0, so the JSON is read instead).
# Changes: nothing.

set -euo pipefail

readonly API=http://127.0.0.1:10222/system/status
readonly API_KEY=/var/lib/mailinabox/api.key

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/ }
  s=${s//$'\r'/}
  s=${s//$'\n'/ }
  printf '"%s"' "$s"
}

services_json() {
  local first=1 s state
  printf '{'
  for s in postfix dovecot nginx; do
    state=$(systemctl is-active "$s" 2>/dev/null || true)
    [ $first -eq 1 ] || printf ','
    first=0
    printf '"%s":%s' "$s" "$(json_str "${state:-unknown}")"
  done
  printf '}'
}

# A TLS handshake: ok and the protocol, or the reason it failed.
tls_json() {
  local out protocol
  if out=$(timeout 15 openssl s_client -brief "$@" </dev/null 2>&1) && protocol=$(grep -m1 '^Protocol version:' <<<"$out"); then
    printf '{"ok":true,"detail":%s}' "$(json_str "${protocol#Protocol version: }")"
  else
    printf '{"ok":false,"detail":%s}' "$(json_str "$(tail -n 2 <<<"$out")")"
  fi
}

status_json() {
  local key out
  if [ ! -r "$API_KEY" ]; then
    printf '"statusChecks":null,"statusError":%s' "$(json_str "$API_KEY not found: Mail-in-a-Box's management daemon is not set up")"
    return 0
  fi
  key=$(cat "$API_KEY")
  # The key goes to curl in a config on stdin, not on its command line.
  if out=$(printf 'user = "%s:"\n' "$key" | curl -sS --fail -X POST --max-time 120 -K - "$API" 2>&1); then
    printf '"statusChecks":%s,"statusError":null' "$out"
  else
    printf '"statusChecks":null,"statusError":%s' "$(json_str "$out")"
  fi
}

main() {
  [ $# -eq 0 ] || {
    echo "usage: health.sh (no arguments)" >&2
    exit 2
  }
  printf '{"services":%s' "$(services_json)"
  printf ',"tls":{"imaps":%s' "$(tls_json -connect 127.0.0.1:993)"
  printf ',"submission":%s}' "$(tls_json -starttls smtp -connect 127.0.0.1:587)"
  printf ',%s}\n' "$(status_json)"
}

main "$@"
