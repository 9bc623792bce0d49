#!/usr/bin/env bash
#
# testhost.sh: Mail-in-a-Box-shaped test hosts on this machine, for tests that need real
# servers on real addresses: each host has its own network namespace and address on a
# private bridge, its own mount namespace (own /etc, /root, /home, spool, logs), and runs
# Debian's sshd, Postfix and Dovecot configured the way Mail-in-a-Box configures them
# where the migration touches them:
#   /home/user-data/mail/mailboxes/<domain>/<user>   Maildir++ (Dovecot, mail:mail)
#   /home/user-data/mail/users.sqlite                 Mail-in-a-Box's schema; Dovecot
#                                                     authenticates and Postfix looks up
#                                                     recipients and aliases in it
#   /home/user-data/mail/dkim/mail.{private,txt}      a DKIM key in OpenDKIM's format
#   /home/user-data/ssl/, backup/secret_key.txt       a self-signed certificate, the
#                                                     backup passphrase
#   /etc/mailinabox.conf, /etc/cron.d/mailinabox-nightly, ufw with Mail-in-a-Box's ports
#   and its SSH rate limit (`ufw limit`: the tests pass it as the program does, with
#   scripts/ssh-access.sh first)
#   Postfix -> Dovecot LMTP for local delivery; IMAPS and submission are not set up.
# systemd does not run in a host: /usr/local/sbin/systemctl is test/hosts/systemctl.sh,
# which drives postfix and dovecot. Mail-in-a-Box's own setup cannot run here (it needs
# Ubuntu and the internet).
#
# Usage:
#   testhost.sh up NAME ADDRESS HOSTNAME   create and start a host (ADDRESS in 198.18.0.0/24)
#   testhost.sh exec NAME COMMAND [ARG...] run a command on the host
#   testhost.sh down NAME                  stop the host and remove everything it had
#   testhost.sh hostkey NAME               print the host's ed25519 public host key
#
# Environment: MIAB_TEST_HOSTS_DIR (default /var/tmp/miab-test-hosts) holds the hosts'
# files; the bridge miabbr0 (198.18.0.1/24, a benchmarking range no real server uses) is
# created on first use and removed with the last host.

set -euo pipefail

readonly BASE=${MIAB_TEST_HOSTS_DIR:-/var/tmp/miab-test-hosts}
readonly BRIDGE=miabbr0
readonly BRIDGE_ADDR=198.18.0.1/24
readonly STORAGE=/home/user-data
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

die() {
  printf 'testhost: error: %s\n' "$*" >&2
  exit 1
}

ns_of() { echo "miab-$1"; }

# Runs a command inside host $1's network and mount namespaces.
enter() {
  local name=$1
  shift
  nsenter --mount="$BASE/$name/mnt.ns" --net="/run/netns/$(ns_of "$name")" -- "$@"
}

bridge_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
}

bridge_down_if_unused() {
  if ip link show "$BRIDGE" >/dev/null 2>&1 && [ -z "$(ip -o link show master "$BRIDGE")" ]; then
    ip link del "$BRIDGE"
  fi
}

network_up() {
  local name=$1 address=$2 ns
  ns=$(ns_of "$name")
  ip netns add "$ns"
  ip link add "mt-$name" type veth peer name eth0 netns "$ns"
  ip link set "mt-$name" master "$BRIDGE" up
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "${BRIDGE_ADDR%/*}"
}

# A private mount namespace, kept alive by a bind mount on $BASE/NAME/mnt.ns.
filesystem_up() {
  local name=$1 dir=$BASE/$1
  mkdir -p "$dir"/{root,home,spool,lib-postfix,lib-dovecot,log,run,sbin}
  # systemd does not run in a test host: a stand-in systemctl drives its daemons.
  install -m 0755 "$HERE/systemctl.sh" "$dir/sbin/systemctl"
  cp -a /etc "$dir/etc"
  # The host's own name; /etc/mailname is what Postfix announces.
  echo "$3" >"$dir/etc/mailname"
  echo "$3" >"$dir/etc/hostname"
  # No resolver on the test network: lookups fail at once instead of timing out.
  rm -f "$dir/etc/resolv.conf"
  echo "nameserver 127.0.0.1" >"$dir/etc/resolv.conf"
  touch "$dir/mnt.ns"
  # shellcheck disable=SC2016 # expanded by the inner shell, which gets the directory as an argument.
  unshare --mount="$dir/mnt.ns" --propagation private bash -c '
    set -e
    d=$1
    mount --bind "$d/etc" /etc
    mount --bind "$d/root" /root
    mount --bind "$d/home" /home
    mount --bind "$d/spool" /var/spool/postfix
    mount --bind "$d/lib-postfix" /var/lib/postfix
    mount --bind "$d/lib-dovecot" /var/lib/dovecot
    mount --bind "$d/log" /var/log
    mount --bind "$d/run" /run
    mount --bind "$d/sbin" /usr/local/sbin' _ "$dir"
}

configure() {
  local name=$1 address=$2 hostname=$3
  enter "$name" bash -s -- "$address" "$hostname" "$STORAGE" <<'EOS'
set -euo pipefail
address=$1 hostname=$2 storage=$3
mkdir -p /run/sshd /run/dovecot /root/.ssh "$storage/mail/mailboxes" /var/log
chmod 0700 /root/.ssh
chown postfix:postfix /var/lib/postfix
chmod 0755 /var/spool/postfix

# sshd: only an ed25519 host key, root by key only, on the host's address.
rm -f /etc/ssh/ssh_host_*
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
cat >/etc/ssh/sshd_config <<EOF
ListenAddress $address
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

# Mail-in-a-Box's users database (management/mailconfig.py).
sqlite3 "$storage/mail/users.sqlite" <<'SQL'
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, password TEXT NOT NULL, extra, privileges TEXT NOT NULL DEFAULT '', quota TEXT NOT NULL DEFAULT '0');
CREATE TABLE IF NOT EXISTS aliases (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL UNIQUE, destination TEXT NOT NULL, permitted_senders TEXT);
CREATE TABLE IF NOT EXISTS mfa (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, type TEXT NOT NULL, secret TEXT NOT NULL, mru_token TEXT, label TEXT, FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS auto_aliases (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL UNIQUE, destination TEXT NOT NULL, permitted_senders TEXT);
SQL
chown -R mail:mail "$storage/mail"

# What Mail-in-a-Box's setup leaves besides the mail store (setup/start.sh, setup/dkim.sh,
# setup/ssl.sh, management/backup.py): its settings file, a DKIM key with OpenDKIM's
# mail.txt, a TLS key and certificate, the backup passphrase.
cat >/etc/mailinabox.conf <<EOF
STORAGE_USER=user-data
STORAGE_ROOT=$storage
PRIMARY_HOSTNAME=$hostname
PUBLIC_IP=$address
PUBLIC_IPV6=
PRIVATE_IP=$address
PRIVATE_IPV6=
MTA_STS_MODE=enforce
EOF
mkdir -p "$storage/mail/dkim" "$storage/ssl" "$storage/backup"
openssl genrsa -out "$storage/mail/dkim/mail.private" 2048 2>/dev/null
key=$(openssl rsa -in "$storage/mail/dkim/mail.private" -pubout -outform DER 2>/dev/null | base64 -w0)
printf 'mail._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; s=email; "\n\t  "p=%s"\n\t  "%s" )  ; ----- DKIM key mail for %s\n' \
  "${key:0:250}" "${key:250}" "$hostname" >"$storage/mail/dkim/mail.txt"
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=$hostname" -days 30 \
  -keyout "$storage/ssl/ssl_private_key.pem" -out "$storage/ssl/ssl_certificate.pem" 2>/dev/null
(umask 077 && openssl rand -hex 64 >"$storage/backup/secret_key.txt")
echo 13 >"$storage/mailinabox.version"

# Mail-in-a-Box's services are enabled units (see systemctl.sh) and its nightly job is in cron.d.
mkdir -p /etc/systemctl-standin/enabled
touch /etc/systemctl-standin/enabled/postfix /etc/systemctl-standin/enabled/dovecot
echo "0 3 * * * root (cd /root/mailinabox && management/daily_tasks.sh)" >/etc/cron.d/mailinabox-nightly

# The firewall Mail-in-a-Box's setup enables (setup/system.sh): SSH rate-limited, its
# other ports open; IMAP on 143 stands in for 993 (the test hosts have no TLS).
ufw --force reset >/dev/null
ufw limit 22/tcp >/dev/null
for port in 25 53 80 443 465 587 993 995 4190 143; do ufw allow "$port/tcp" >/dev/null; done
ufw --force enable >/dev/null

# Dovecot as Mail-in-a-Box sets it up (setup/mail-dovecot.sh, setup/mail-users.sh).
cat >/etc/dovecot/dovecot.conf <<EOF
protocols = imap lmtp
listen = $address, 127.0.0.1
base_dir = /run/dovecot
state_dir = /var/lib/dovecot
log_path = /var/log/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$storage/mail/mailboxes/%d/%n
mail_privileged_group = mail
first_valid_uid = 0
passdb {
  driver = sql
  args = /etc/dovecot/dovecot-sql.conf.ext
}
userdb {
  driver = sql
  args = /etc/dovecot/dovecot-sql.conf.ext
}
service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    user = postfix
    group = postfix
    mode = 0600
  }
}
namespace inbox {
  inbox = yes
  separator = .
}
EOF
cat >/etc/dovecot/dovecot-sql.conf.ext <<EOF
driver = sqlite
connect = $storage/mail/users.sqlite
default_pass_scheme = SHA512-CRYPT
password_query = SELECT email as user, password FROM users WHERE email='%u';
user_query = SELECT email AS user, "mail" as uid, "mail" as gid, "$storage/mail/mailboxes/%d/%n" as home FROM users WHERE email='%u';
iterate_query = SELECT email AS user FROM users;
EOF
chmod 0600 /etc/dovecot/dovecot-sql.conf.ext

# Postfix as Mail-in-a-Box sets it up (setup/mail-postfix.sh, setup/mail-users.sh), on
# this host's address, delivering to Dovecot over LMTP; no chroot (no resolver copies).
postconf -e \
  "myhostname = $hostname" "mydestination = localhost" "mynetworks = 127.0.0.0/8" \
  "inet_interfaces = $address, 127.0.0.1" "inet_protocols = ipv4" \
  "smtpd_banner = \$myhostname ESMTP Hi, I'm a Mail-in-a-Box (test host)" \
  "maillog_file = /var/log/mail.log" "compatibility_level = 3.6" \
  "smtpd_peername_lookup = no" "smtp_dns_support_level = disabled" \
  "virtual_transport = lmtp:unix:private/dovecot-lmtp" \
  "virtual_mailbox_domains = sqlite:/etc/postfix/virtual-mailbox-domains.cf" \
  "virtual_mailbox_maps = sqlite:/etc/postfix/virtual-mailbox-maps.cf" \
  "virtual_alias_maps = sqlite:/etc/postfix/virtual-alias-maps.cf" \
  "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
  "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, reject_unlisted_recipient"
postconf -F '*/*/chroot = n'
cat >/etc/postfix/virtual-mailbox-domains.cf <<EOF
dbpath=$storage/mail/users.sqlite
query = SELECT 1 FROM users WHERE email LIKE '%%@%s' UNION SELECT 1 FROM aliases WHERE source LIKE '%%@%s' UNION SELECT 1 FROM auto_aliases WHERE source LIKE '%%@%s'
EOF
cat >/etc/postfix/virtual-mailbox-maps.cf <<EOF
dbpath=$storage/mail/users.sqlite
query = SELECT 1 FROM users WHERE email='%s'
EOF
cat >/etc/postfix/virtual-alias-maps.cf <<EOF
dbpath=$storage/mail/users.sqlite
query = SELECT destination from (SELECT destination, 0 as priority FROM aliases WHERE source='%s' AND destination<>'' UNION SELECT email as destination, 1 as priority FROM users WHERE email='%s') ORDER BY priority LIMIT 1;
EOF
EOS
}

# Daemons get no stdio of ours (a caller reading our output would wait for them) and not
# the lock's descriptor (every later up or down would wait for them).
start_daemons() {
  local name=$1
  enter "$name" /usr/sbin/sshd -E /var/log/sshd.log </dev/null >/dev/null 2>&1 9>&- ||
    die "sshd did not start on $name: $(tail -n 5 "$BASE/$name/log/sshd.log" 2>/dev/null)"
  enter "$name" postfix start </dev/null >/dev/null 2>&1 9>&- ||
    die "postfix did not start on $name: $(tail -n 5 "$BASE/$name/log/mail.log" 2>/dev/null)"
  enter "$name" dovecot </dev/null >/dev/null 2>&1 9>&- ||
    die "dovecot did not start on $name: $(tail -n 5 "$BASE/$name/log/dovecot.log" 2>/dev/null)"
}

wait_for_port() {
  local address=$1 port=$2 i
  for i in $(seq 1 100); do
    # shellcheck disable=SC2016 # expanded by the inner shell, which gets them as arguments.
    timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$address" "$port" 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing answers on $address:$port (attempts: $i)"
}

up() {
  local name=$1 address=$2 hostname=$3
  [[ $name =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "host name must be 1-10 lower-case letters and digits (got '$name')"
  [[ $address =~ ^198\.18\.0\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])$ ]] ||
    die "address must be in 198.18.0.2-254 (got '$address')"
  [ ! -e "$BASE/$name" ] || die "host $name exists; run: testhost.sh down $name"
  mkdir -p "$BASE"
  if ! mountpoint -q "$BASE"; then
    mount --bind "$BASE" "$BASE"
    mount --make-private "$BASE"
  fi
  bridge_up
  network_up "$name" "$address"
  filesystem_up "$name" "$address" "$hostname"
  configure "$name" "$address" "$hostname"
  start_daemons "$name"
  for port in 22 25 143; do wait_for_port "$address" "$port"; done
}

down() {
  local name=$1 ns pids
  ns=$(ns_of "$name")
  if ip netns list | grep -qw "$ns"; then
    pids=$(ip netns pids "$ns")
    # shellcheck disable=SC2086 # one pid per word
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    sleep 0.2
    pids=$(ip netns pids "$ns")
    # shellcheck disable=SC2086 # one pid per word
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    ip netns del "$ns"
  fi
  ip link del "mt-$name" 2>/dev/null || true
  # A host brought up again gets a new MAC address: forget the old one.
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || ip neigh flush dev "$BRIDGE"
  if [ -e "$BASE/$name/mnt.ns" ]; then
    umount "$BASE/$name/mnt.ns" 2>/dev/null || true
  fi
  rm -rf "${BASE:?}/$name"
  bridge_down_if_unused
  # The last host gone: undo the private bind mount of $BASE made by the first `up`.
  if mountpoint -q "$BASE" && [ -z "$(ls -A "$BASE")" ]; then
    umount "$BASE"
  fi
}

# Hosts of test files running in parallel share the bridge: create, attach and remove
# under one lock.
lock() {
  mkdir -p /run/lock
  exec 9>/run/lock/miab-testhost.lock
  flock -w 120 9 || die "another testhost.sh held /run/lock/miab-testhost.lock for 2 minutes"
}

main() {
  [ $# -ge 2 ] || die "usage: testhost.sh up NAME ADDRESS HOSTNAME | exec NAME CMD... | down NAME | hostkey NAME"
  local cmd=$1
  shift
  case $cmd in
    up)
      [ $# -eq 3 ] || die "usage: testhost.sh up NAME ADDRESS HOSTNAME"
      lock
      up "$@"
      ;;
    exec) enter "$@" ;;
    down)
      lock
      down "$1"
      ;;
    hostkey) cut -d' ' -f1,2 "$BASE/$1/etc/ssh/ssh_host_ed25519_key.pub" ;;
    *) die "unknown command $cmd" ;;
  esac
}

main "$@"
