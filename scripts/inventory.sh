#!/usr/bin/env bash
#
# inventory.sh: describe a Mail-in-a-Box box as one JSON document on stdout. Read-only.
#
# Run by miab-migrate as root over SSH: on the old box in `prepare` (what is to be moved)
# and on both boxes in `verify` (whether everything arrived).
#
# Usage:  inventory.sh
# Output: {"hostname", "miabVersion", "ubuntu", "storageRoot", "users": [{email,
#         privileges, quota}], "aliases": [{source, destination, permittedSenders}],
#         "domains", "mailboxes": [{user, folders: [{name, messages, bytes, digest}]}],
#         "dkim", "diskUsedBytes", "diskTotalBytes", "backup": {target, latest}}
#         A folder's digest is the SHA-256 of its message file names (the part before
#         ":2,", which Dovecot keeps when flags change), one per line, sorted: two boxes
#         with the same digest hold the same messages.
#         Password hashes, the backup key and backup credentials are never printed.
# Changes: nothing.
# Exit codes: 2 usage, 3 not a Mail-in-a-Box box.

set -euo pipefail
export LC_ALL=C

readonly MIAB_CONF=${MIAB_CONF:-/etc/mailinabox.conf}

die() {
  local code=$1
  shift
  printf 'inventory: error: %s\n' "$*" >&2
  exit "$code"
}

# A JSON string: escapes backslash, quote and control characters.
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

json_str_or_null() {
  if [ -n "$1" ]; then json_str "$1"; else printf 'null'; fi
}

conf_value() {
  sed -n "s/^$1=//p" "$MIAB_CONF" | tail -n 1
}

# The release the box runs: the checked-out tag of the repository setup was run from.
miab_version() {
  local dir
  for dir in /root/mailinabox /home/*/mailinabox; do
    if [ -d "$dir/.git" ]; then
      git -C "$dir" describe --tags 2>/dev/null && return 0
    fi
  done
  echo ""
}

# Rows of a query as JSON objects; $2... name the columns (all text).
sql_objects() {
  local db=$1 query=$2
  shift 2
  local first=1 row i
  local -a cols=("$@") values
  printf '['
  while IFS= read -r row; do
    IFS=$'\x1f' read -r -a values <<<"$row"
    [ $first -eq 1 ] || printf ','
    first=0
    printf '{'
    for i in "${!cols[@]}"; do
      [ "$i" -eq 0 ] || printf ','
      printf '"%s":%s' "${cols[$i]}" "$(json_str "${values[$i]:-}")"
    done
    printf '}'
  done < <(sqlite3 -readonly -separator $'\x1f' "$db" "$query")
  printf ']'
}

# One Maildir folder: message count, bytes and the digest of its message names.
folder_json() {
  local name=$1 dir=$2 count bytes digest
  count=$(find "$dir/cur" "$dir/new" -maxdepth 1 -type f 2>/dev/null | wc -l)
  bytes=$(find "$dir/cur" "$dir/new" -maxdepth 1 -type f -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}')
  digest=$(find "$dir/cur" "$dir/new" -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | sed 's/:2,.*$//' | sort | sha256sum | cut -d' ' -f1)
  printf '{"name":%s,"messages":%d,"bytes":%d,"digest":"%s"}' "$(json_str "$name")" "$count" "$bytes" "$digest"
}

# Every user's folders: INBOX is the Maildir itself, subfolders are its .Name
# directories (Maildir++, names in modified UTF-7 as on disk).
mailboxes_json() {
  local root=$1 first=1 email user domain dir sub
  printf '['
  while IFS= read -r email; do
    user=${email%@*}
    domain=${email##*@}
    dir=$root/mail/mailboxes/$domain/$user
    [ $first -eq 1 ] || printf ','
    first=0
    printf '{"user":%s,"folders":[' "$(json_str "$email")"
    if [ -d "$dir" ]; then
      folder_json INBOX "$dir"
      while IFS= read -r sub; do
        printf ','
        folder_json "${sub#.}" "$dir/$sub"
      done < <(find "$dir" -mindepth 1 -maxdepth 1 -type d -name '.?*' -printf '%f\n' | sort)
    fi
    printf ']}'
  done < <(sqlite3 -readonly "$root/mail/users.sqlite" "SELECT email FROM users ORDER BY email")
  printf ']'
}

# The DKIM TXT value, joined from OpenDKIM's quoted strings as dns_update.py does.
dkim_value() {
  local file=$1/mail/dkim/mail.txt
  [ -f "$file" ] || return 0
  tr -d '\n' <"$file" | grep -o '"[^"]*"' | tr -d '"' | tr -d '\n' | sed 's/[[:space:]]\{2,\}/ /g'
}

# The backup target without credentials, and when the newest local backup was made.
backup_json() {
  local root=$1 target latest=""
  target=$(sed -n 's/^target:[[:space:]]*//p' "$root/backup/custom.yaml" 2>/dev/null | head -n 1 | sed 's#//[^/@]*@#//#' || true)
  [ -n "$target" ] || target=local
  if [ "$target" = local ] || [ "$target" = "file://$root/backup/encrypted" ]; then
    latest=$(find "$root/backup/encrypted" -maxdepth 1 -name 'duplicity-*.manifest.gpg' -printf '%T@\n' 2>/dev/null | sort -n | tail -n 1)
    [ -z "$latest" ] || latest=$(date -u -d "@${latest%.*}" +%Y-%m-%dT%H:%M:%SZ)
  fi
  printf '{"target":%s,"latest":%s}' "$(json_str "$target")" "$(json_str_or_null "$latest")"
}

main() {
  [ $# -eq 0 ] || die 2 "usage: inventory.sh (no arguments)"
  [ -r "$MIAB_CONF" ] || die 3 "$MIAB_CONF not found: this is not a Mail-in-a-Box box (or setup never finished)"
  local root hostname db
  root=$(conf_value STORAGE_ROOT)
  hostname=$(conf_value PRIMARY_HOSTNAME)
  [ -n "$root" ] || die 3 "$MIAB_CONF has no STORAGE_ROOT"
  db=$root/mail/users.sqlite
  [ -r "$db" ] || die 3 "$db not found: Mail-in-a-Box's users database is missing"

  printf '{"hostname":%s' "$(json_str "$hostname")"
  printf ',"miabVersion":%s' "$(json_str_or_null "$(miab_version)")"
  printf ',"ubuntu":%s' "$(json_str_or_null "$(sed -n 's/^VERSION_ID="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)")"
  printf ',"storageRoot":%s' "$(json_str "$root")"
  printf ',"users":%s' "$(sql_objects "$db" \
    "SELECT email, privileges, quota FROM users ORDER BY email" email privileges quota)"
  printf ',"aliases":%s' "$(sql_objects "$db" \
    "SELECT source, destination, coalesce(permitted_senders, '') FROM aliases ORDER BY source" \
    source destination permittedSenders)"
  printf ',"domains":['
  sqlite3 -readonly "$db" "SELECT DISTINCT lower(substr(email, instr(email, '@') + 1)) AS d FROM users
                           UNION SELECT lower(substr(source, instr(source, '@') + 1)) FROM aliases ORDER BY 1" |
    while IFS= read -r d; do printf '%s\n' "$(json_str "$d")"; done | paste -sd, - | tr -d '\n'
  printf ']'
  printf ',"mailboxes":%s' "$(mailboxes_json "$root")"
  printf ',"dkim":%s' "$(json_str_or_null "$(dkim_value "$root")")"
  printf ',"diskUsedBytes":%d' "$(du -sb --exclude="$root/backup" "$root" | cut -f1)"
  printf ',"diskTotalBytes":%d' "$(df -B1 --output=size "$root" | tail -n 1 | tr -d ' ')"
  printf ',"backup":%s' "$(backup_json "$root")"
  printf '}\n'
}

main "$@"
