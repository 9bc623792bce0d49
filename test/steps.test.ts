/**
 * The migration's remote steps, run for real over SSH on two test hosts (old and new) with
 * the command lines the program uses (lib/steps.ts), each twice, checking what each one
 * changed on disk, in the firewall and in the running services.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, renameSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { NEW_BOX_SCRIPTS, OLD_BOX_SCRIPTS, STAGING_DIR, steps } from "../lib/steps";
import { type Box, Lab } from "./harness/hosts";
import { ROOT } from "./harness/program";
import { imapCount, smtpSend } from "./harness/mail";
import { answers, deferredFor, seed, waitUntil } from "./harness/migration";
import { type Corpus, generateCorpus } from "./rehearsal/corpus";

const SR = "/home/user-data";
const lab = new Lab();
let oldBox: Box;
let newBox: Box;
let corpus: Corpus;
let ufwBefore = "";
const transferKey = path.join(lab.scratch, "transfer_ed25519");

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
/** Path, size and mtime of every file under `dir` on `box`: what "unchanged" means. */
const tree = (box: Box, dir: string) => box.exec("bash", "-c", `find ${dir} -printf '%P %s %T@ %m %u\\n' | sort`);
const oldAddress = () => ({ ipv4: oldBox.address, sshPort: 22, hostKey: `${oldBox.hostKey()} root@old` });

function maildirFiles(box: Box, user: string): string[] {
    const [local, domain] = user.split("@");
    const out = box.exec("bash", "-c", `cd ${SR}/mail/mailboxes/${domain}/${local} && find . -path '*/cur/*' -o -path '*/new/*' | sort`);
    return out.split("\n").filter((l) => l !== "");
}

describe("remote steps on test hosts", { concurrency: false }, () => {
    before(() => {
        oldBox = lab.up({ name: "sold", address: "198.18.0.40", hostname: "box.example.test" });
        newBox = lab.up({ name: "snew", address: "198.18.0.41", hostname: "box.example.test" });
        corpus = generateCorpus({
            seed: 3,
            domains: ["example.test", "example.org"],
            usersPerDomain: 1,
            messagesPerUser: 8,
            largeMessageBytes: 2 << 20,
        });
        seed(oldBox, corpus);
        oldBox.upload(...OLD_BOX_SCRIPTS);
        newBox.upload(...NEW_BOX_SCRIPTS);
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", transferKey]);
    });

    after(() => lab.close());

    it("inventory describes the old box exactly and changes nothing", () => {
        const before = tree(oldBox, SR);
        const first = oldBox.step(steps.inventory()).stdout;
        const second = oldBox.step(steps.inventory()).stdout;
        assert.equal(second, first);
        assert.equal(tree(oldBox, SR), before);
        const inv = JSON.parse(first);
        assert.equal(inv.hostname, "box.example.test");
        assert.equal(inv.storageRoot, SR);
        assert.deepEqual(
            inv.users.map((u: { email: string }) => u.email),
            corpus.users.map((u) => u.email).sort(),
        );
        assert.deepEqual(
            inv.aliases.map((a: { source: string; destination: string }) => `${a.source}>${a.destination}`),
            corpus.aliases.map((a) => `${a.source}>${a.destination}`).sort(),
        );
        assert.deepEqual(inv.domains, ["example.org", "example.test"]);
        for (const u of corpus.users) {
            const box = inv.mailboxes.find((m: { user: string }) => m.user === u.email);
            const expected = Object.fromEntries(
                corpus.folders[u.email].map((f) => [
                    f === "" ? "INBOX" : f.slice(1),
                    corpus.messages.filter((m) => m.user === u.email && m.folder === f),
                ]),
            );
            assert.deepEqual(
                Object.fromEntries(box.folders.map((f: { name: string; messages: number }) => [f.name, f.messages])),
                Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, v.length])),
                u.email,
            );
            for (const f of box.folders) {
                const names = expected[f.name].map((m) => `${path.basename(m.file).replace(/:2,.*$/, "")}\n`).sort();
                assert.equal(f.digest, sha(names.join("")), `${u.email} ${f.name} digest`);
                assert.equal(
                    f.bytes,
                    expected[f.name].reduce((s, m) => s + Buffer.byteLength(m.content), 0),
                );
            }
        }
        const mailTxt = readFileSync(lab.file("sold", "home", "user-data", "mail", "dkim", "mail.txt"), "utf8");
        assert.equal(inv.dkim, [...mailTxt.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join(""));
        assert.deepEqual(inv.backup, { target: "local", latest: null });
        assert.ok(inv.diskUsedBytes > 2 << 20 && inv.diskUsedBytes < inv.diskTotalBytes);
    });

    it("backup-files hands over the old box's backup key as base64 tar, and nothing else", () => {
        const out = oldBox.step(steps.backupFiles()).stdout;
        assert.equal(oldBox.step(steps.backupFiles()).stdout, out);
        const listing = spawnSync("tar", ["-tf", "-"], { input: Buffer.from(out, "base64"), encoding: "utf8" }).stdout;
        assert.equal(listing, "secret_key.txt\n");
        const key = spawnSync("tar", ["-xOf", "-", "secret_key.txt"], { input: Buffer.from(out, "base64") }).stdout;
        assert.deepEqual(key, readFileSync(lab.file("sold", "home", "user-data", "backup", "secret_key.txt")));
    });

    it("transfer-access grants the transfer key to the new box's address only, once", () => {
        const pub = readFileSync(`${transferKey}.pub`, "utf8");
        for (let i = 0; i < 2; i++) oldBox.step(steps.grantTransfer(newBox.address, 22), pub);
        const lines = oldBox
            .exec("cat", "/root/.ssh/authorized_keys")
            .split("\n")
            .filter((l) => l.includes("miab-migrate-transfer"));
        assert.deepEqual(lines, [
            `restrict,from="198.18.0.41",command="/root/miab-migrate/transfer-gate.sh" ${pub.trim()} miab-migrate-transfer`,
        ]);
        const fromHere = spawnSync(
            "ssh",
            [
                "-i",
                transferKey,
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                `root@${oldBox.address}`,
                "true",
            ],
            { encoding: "utf8" },
        );
        assert.equal(fromHere.status, 255, "the key must not work from another address");
        assert.match(
            oldBox.exec("ufw", "status", "numbered"),
            /\[ 1\] 22\/tcp +ALLOW IN +198\.18\.0\.41 +# miab-migrate transfer\n\[ 2\] 22\/tcp +ALLOW IN +198\.18\.0\.1 +# miab-migrate operator\n/,
            "the new box's rsync passes the SSH rate limit",
        );
        const bad = oldBox.ssh(steps.grantTransfer(newBox.address, 0), pub);
        assert.equal(bad.status, 2);
        assert.equal(bad.stderr, "transfer-access: error: usage: transfer-access.sh grant --from IPV4 --port PORT < public-key\n");
    });

    it("transfer setup installs the key 0600 and pins the old box's host key", () => {
        const key = readFileSync(transferKey, "utf8");
        for (let i = 0; i < 2; i++) newBox.step(steps.transferSetup(oldAddress()), key);
        assert.equal(newBox.exec("stat", "-c", "%a %U", "/root/miab-migrate/transfer/id_ed25519"), "600 root\n");
        assert.equal(newBox.exec("cat", "/root/miab-migrate/transfer/known_hosts"), `${oldBox.address} ${oldBox.hostKey()}\n`);
        assert.equal(newBox.exec("cat", "/root/miab-migrate/transfer/id_ed25519"), key);
    });

    it("transfer setup refuses a host key or a transfer key that is not one, and keeps what was installed", () => {
        const key = readFileSync(transferKey, "utf8");
        const before = newBox.exec("cat", "/root/miab-migrate/transfer/known_hosts", "/root/miab-migrate/transfer/id_ed25519");
        const badHostKey = newBox.ssh(steps.transferSetup({ ...oldAddress(), hostKey: "ssh-dss AAAAB3NzaC1kc3M" }), key);
        assert.equal(badHostKey.status, 2);
        assert.equal(badHostKey.stderr, 'transfer: error: --old-host-key must be the old box\'s public host key ("ssh-ed25519 AAAA...")\n');
        const badKey = newBox.ssh(steps.transferSetup(oldAddress()), "not a key\n");
        assert.equal(badKey.status, 2);
        assert.equal(badKey.stderr, "transfer: error: stdin must be the transfer key (OpenSSH private key)\n");
        assert.equal(newBox.exec("ls", "/root/miab-migrate/transfer"), "id_ed25519\nknown_hosts\n");
        assert.equal(newBox.exec("cat", "/root/miab-migrate/transfer/known_hosts", "/root/miab-migrate/transfer/id_ed25519"), before);
        // Every key type the configuration accepts is accepted here too.
        const ecdsa384 = spawnSync(
            "bash",
            ["-c", `d=$(mktemp -d) && ssh-keygen -q -t ecdsa -b 384 -N '' -f $d/k && cat $d/k.pub && rm -rf $d`],
            {
                encoding: "utf8",
            },
        ).stdout.trim();
        newBox.step(steps.transferSetup({ ...oldAddress(), hostKey: ecdsa384 }), key);
        assert.equal(
            newBox.exec("cat", "/root/miab-migrate/transfer/known_hosts"),
            `${oldBox.address} ${ecdsa384.split(" ").slice(0, 2).join(" ")}\n`,
        );
        newBox.step(steps.transferSetup(oldAddress()), key);
    });

    it("pull stops with exit 4 when the old box does not show the pinned host key, and copies nothing", () => {
        const key = readFileSync(transferKey, "utf8");
        newBox.step(steps.transferSetup({ ...oldAddress(), hostKey: `${newBox.hostKey()} root@not-the-old-box` }), key);
        const r = newBox.ssh(steps.pull(oldAddress(), SR));
        newBox.step(steps.transferSetup(oldAddress()), key);
        assert.equal(r.status, 4);
        assert.match(
            r.stderr,
            /^transfer: error: the old box 198\.18\.0\.40:22 refused the transfer key or cannot be reached: [^]*\nHost key verification failed\.\r?\n/,
        );
        assert.equal(newBox.exec("bash", "-c", `ls ${STAGING_DIR}/user-data 2>/dev/null | wc -l`), "0\n");
    });

    it("the gate lets the transfer key run only the transfer's rsync", () => {
        const viaKey = (cmd: string) =>
            newBox.ssh(
                `ssh -i /root/miab-migrate/transfer/id_ed25519 -o BatchMode=yes -o UserKnownHostsFile=/root/miab-migrate/transfer/known_hosts root@${oldBox.address} ${cmd}`,
            );
        const refusals: [string, RegExp][] = [
            ["cat /etc/shadow", /refused: only rsync is allowed with this key/],
            ["rsync --server --sender -logDtpre.iLsfxCIvu . /etc/", /refused: \/etc\/ is outside \/home\/user-data/],
            ["rsync --server --sender -logDtpre.iLsfxCIvu . /home/user-data/../../etc", /refused: .* is outside/],
            [
                "rsync --server --sender -logDtpre.iLsfxCIvu --remove-source-files . /home/user-data/",
                /refused: option --remove-source-files is not allowed/,
            ],
            ["rsync --server --sender -slogDtpre.iLsfxCIvu", /refused: --protect-args is not allowed/],
            [
                "rsync --server -logDtpre.iLsfxCIvu --ignore-existing . /home/user-data/mail/",
                /refused: writing is allowed only into \/home\/user-data\/mail\/mailboxes\//,
            ],
            ["rsync --server -logDtpre.iLsfxCIvu --delete . /home/user-data/mail/mailboxes/", /refused: option --delete is not allowed/],
            [
                "rsync --server -logDtpre.iLsfxCIvu . /home/user-data/mail/mailboxes/",
                /refused: writing is allowed only with --ignore-existing/,
            ],
        ];
        for (const [cmd, message] of refusals) {
            const r = viaKey(`'${cmd}'`);
            assert.notEqual(r.status, 0, cmd);
            assert.match(r.stderr, message, cmd);
        }
    });

    it("pull copies the old box's storage root (without backup/) and a second run copies nothing", () => {
        const first = newBox.step(steps.pull(oldAddress(), SR)).stdout;
        assert.match(first, /transfer: copying root@198\.18\.0\.40:\/home\/user-data\/ to \/home\/miab-migrate-staging\/user-data\//);
        const second = newBox.step(steps.pull(oldAddress(), SR)).stdout;
        assert.match(second, /Number of regular files transferred: 0\b/);
        const oldTree = tree(oldBox, SR)
            .split("\n")
            .filter((l) => !l.startsWith("backup"));
        assert.deepEqual(tree(newBox, `${STAGING_DIR}/user-data`).split("\n"), oldTree);
    });

    it("freeze closes everything but SSH, whose rules stay as they were, and stops Postfix and Dovecot; twice is the same", async () => {
        ufwBefore = oldBox.exec("ufw", "status", "verbose");
        for (let i = 0; i < 2; i++) oldBox.step(steps.freeze(22));
        assert.equal(oldBox.step("/root/miab-migrate/freeze.sh status").stdout, "frozen\n");
        // Mail-in-a-Box's rate limit stays, and so do the addresses let past it.
        const onlySsh = new RegExp(
            [
                "^Status: active\n\nTo +Action +From\n-+ +-+ +-+\n",
                "22/tcp +ALLOW +198\\.18\\.0\\.41 +# miab-migrate transfer\n",
                "22/tcp +ALLOW +198\\.18\\.0\\.1 +# miab-migrate operator\n",
                "22/tcp +LIMIT +Anywhere +\n",
                "22/tcp \\(v6\\) +LIMIT +Anywhere \\(v6\\) +\n\n$",
            ].join(""),
        );
        assert.match(oldBox.exec("ufw", "status"), onlySsh);
        // The running firewall is the one in ufw's files: a reboot (or `ufw reload`) keeps it closed.
        const running = () => oldBox.exec("bash", "-c", "iptables -S ufw-user-input; ip6tables -S ufw6-user-input");
        const loaded = running();
        assert.deepEqual(
            loaded
                .split("\n")
                .filter((l) => l.startsWith("-A"))
                .map((l) => l.replace(/ -m recent (--set|--update) .*?( -j \S+)?$/, " -m recent $1$2")),
            [
                "-A ufw-user-input -s 198.18.0.41/32 -p tcp -m tcp --dport 22 -j ACCEPT",
                "-A ufw-user-input -s 198.18.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT",
                "-A ufw-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --set",
                "-A ufw-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --update -j ufw-user-limit",
                "-A ufw-user-input -p tcp -m tcp --dport 22 -j ufw-user-limit-accept",
                "-A ufw6-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --set",
                "-A ufw6-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --update -j ufw6-user-limit",
                "-A ufw6-user-input -p tcp -m tcp --dport 22 -j ufw6-user-limit-accept",
            ],
        );
        oldBox.exec("ufw", "reload");
        assert.equal(running(), loaded);
        assert.match(oldBox.exec("ufw", "status"), onlySsh);
        assert.equal(oldBox.ssh("systemctl is-active postfix dovecot").stdout, "inactive\ninactive\n");
        assert.equal(await answers(oldBox.address, 25), false, "SMTP must not answer (a closed port, never a 5xx)");
        assert.equal(await answers(oldBox.address, 143), false);
    });

    it("freeze refuses a ufw rule file whose user rules section is not whole, and leaves it as it was", () => {
        const rules = "/etc/ufw/user.rules";
        const good = oldBox.exec("cat", rules);
        // Without its start the rules would stay; without its end a rewrite would drop all after them.
        for (const marker of ["### RULES ###\n", "### END RULES ###\n"]) {
            const odd = good.replace(marker, "");
            oldBox.exec("bash", "-c", `cat > ${rules} <<'EOF'\n${odd}EOF`);
            const r = oldBox.ssh(steps.freeze(22));
            const after = oldBox.exec("cat", rules);
            oldBox.exec("bash", "-c", `cat > ${rules} <<'EOF'\n${good}EOF`);
            assert.equal(r.status, 3, marker);
            assert.equal(
                r.stderr,
                "freeze: error: /etc/ufw/user.rules is not in the format ufw writes (no '### RULES ###' ... '### END RULES ###' section): close the firewall by hand (ufw reset; ufw allow 22/tcp; ufw enable), then run again\n",
            );
            assert.equal(after, odd, marker);
            assert.equal(oldBox.exec("ls", "/etc/ufw").includes("miab-migrate"), false, marker);
        }
    });

    it("the final pull moves only what changed since the pre-copy", () => {
        const [local, domain] = corpus.users[0].email.split("@");
        const straggler = `${SR}/mail/mailboxes/${domain}/${local}/new/1800000000.M1P1.old,S=30`;
        oldBox.exec("bash", "-c", `printf 'Subject: after the pre-copy\\n\\nhi\\n' > ${straggler} && chown mail:mail ${straggler}`);
        const out = newBox.step(steps.pull(oldAddress(), SR)).stdout;
        assert.match(out, /Number of regular files transferred: 1\b/);
        assert.equal(newBox.exec("cat", straggler.replace(SR, `${STAGING_DIR}/user-data`)), "Subject: after the pre-copy\n\nhi\n");
    });

    it("restore puts the copy in place with the old backup key, keeps the fresh install, and undo reverses it", async () => {
        const backupFiles = oldBox.step(steps.backupFiles()).stdout;
        const freshUsers = sha(readFileSync(lab.file("snew", "home", "user-data", "mail", "users.sqlite")));
        const u = corpus.users[0];
        const rcpt = async () => (await smtpSend(newBox.address, "bob@sender.test", [u.email])).recipients[u.email];
        // Postfix and Dovecot look the user up in the fresh users.sqlite first, so that they
        // hold it open: only a reload makes them read the moved-in one.
        assert.equal(await rcpt(), 554, "the fresh install does not know the old box's domains: relay access denied");
        await assert.rejects(imapCount(newBox.address, u.email, u.password), /IMAP login failed/);
        for (let i = 0; i < 2; i++) newBox.step(steps.restore(), backupFiles);
        assert.equal(
            sha(readFileSync(lab.file("snew", "home", "user-data", "mail", "users.sqlite"))),
            sha(readFileSync(lab.file("sold", "home", "user-data", "mail", "users.sqlite"))),
        );
        assert.equal(sha(readFileSync(lab.file("snew", "home", "miab-migrate-fresh-install", "mail", "users.sqlite"))), freshUsers);
        assert.deepEqual(
            readFileSync(lab.file("snew", "home", "user-data", "backup", "secret_key.txt")),
            readFileSync(lab.file("sold", "home", "user-data", "backup", "secret_key.txt")),
        );
        assert.equal(newBox.exec("stat", "-c", "%a", `${SR}/backup/secret_key.txt`), "600\n");
        assert.equal(newBox.exec("systemctl", "is-active", "postfix", "dovecot"), "active\nactive\n");
        // The running Postfix and Dovecot were reloaded: they look users up in the moved-in users.sqlite.
        assert.equal(await rcpt(), 250);
        assert.equal(
            await imapCount(newBox.address, u.email, u.password),
            corpus.messages.filter((m) => m.user === u.email && m.folder === "").length + 1,
        );

        for (let i = 0; i < 2; i++) newBox.step(steps.unrestore());
        assert.equal(sha(readFileSync(lab.file("snew", "home", "user-data", "mail", "users.sqlite"))), freshUsers);
        assert.equal(readdirSync(lab.file("snew", "home")).sort().join(" "), "miab-migrate-staging user-data");
        await assert.rejects(imapCount(newBox.address, u.email, u.password), /IMAP login failed/);
        assert.equal(await rcpt(), 554, "the fresh install does not know the old box's domains: relay access denied");
        newBox.step(steps.restore(), backupFiles);
    });

    it("health reports the new box's services, TLS and Mail-in-a-Box's status checks, and changes nothing", () => {
        const before = tree(newBox, SR);
        const report = JSON.parse(newBox.step(steps.health()).stdout);
        assert.equal(tree(newBox, SR), before);
        // The test hosts run no nginx, no TLS and no management daemon: each is reported as such.
        assert.deepEqual(report.services, { postfix: "active", dovecot: "active", nginx: "inactive" });
        assert.equal(report.tls.imaps.ok, false);
        assert.match(report.tls.imaps.detail, /Connection refused|errno=111/);
        assert.equal(report.tls.submission.ok, false);
        assert.equal(report.statusChecks, null);
        assert.equal(report.statusError, "/var/lib/mailinabox/api.key not found: Mail-in-a-Box's management daemon is not set up");
    });

    it("restore refuses input that is not the old box's backup files, before touching anything", () => {
        newBox.step(steps.unrestore());
        const before = tree(newBox, SR);
        const r = newBox.ssh(steps.restore(), "not base64 at all!");
        assert.equal(r.status, 2);
        assert.equal(r.stderr, "restore: error: stdin is not base64: expected the old box's backup files\n");
        assert.equal(tree(newBox, SR), before);
        newBox.step(steps.restore(), oldBox.step(steps.backupFiles()).stdout);
    });

    it("push-back copies mail that only the new box has to the old box, without duplicating renamed messages", async () => {
        const u = corpus.users[0];
        const sent = await smtpSend(
            newBox.address,
            "bob@sender.test",
            [u.email],
            "Subject: arrived on new\nMessage-ID: <new1@sender.test>\n\nhi\n",
        );
        assert.deepEqual(sent, { recipients: { [u.email]: 250 }, data: 250 });
        // A message read on the new box: Dovecot renames it with new flags, same base name.
        const [local, domain] = u.email.split("@");
        const cur = lab.file("snew", "home", "user-data", "mail", "mailboxes", domain, local, "cur");
        const renamed = readdirSync(cur).find((f) => f.endsWith(":2,")) ?? readdirSync(cur)[0];
        renameSync(path.join(cur, renamed), path.join(cur, `${renamed.replace(/:2,.*$/, "")}:2,RS`));
        await waitUntil(() => maildirFiles(newBox, u.email).length === maildirFiles(oldBox, u.email).length + 1);

        const before = maildirFiles(oldBox, u.email);
        const first = newBox.step(steps.pushBack(oldAddress(), SR)).stdout;
        assert.match(first, /copying 1 message\(s\) that are only on this box to the old box/);
        const added = maildirFiles(oldBox, u.email).filter((f) => !before.includes(f));
        assert.equal(added.length, 1);
        assert.match(oldBox.exec("cat", `${SR}/mail/mailboxes/${domain}/${local}/${added[0]}`), /Subject: arrived on new/);
        assert.match(newBox.step(steps.pushBack(oldAddress(), SR)).stdout, /no message is missing on the old box/);
    });

    it("stragglers copies mail that only the old box has to the new box, once", () => {
        const u = corpus.users[1];
        const [local, domain] = u.email.split("@");
        const file = `${SR}/mail/mailboxes/${domain}/${local}/new/1800000001.M2P2.old,S=20`;
        oldBox.exec("bash", "-c", `printf 'Subject: straggler\\n\\nx\\n' > ${file} && chown mail:mail ${file}`);
        assert.match(newBox.step(steps.stragglers(oldAddress(), SR)).stdout, /copying 1 message\(s\) that are only on the old box/);
        assert.equal(newBox.exec("cat", file), "Subject: straggler\n\nx\n");
        assert.equal(newBox.exec("stat", "-c", "%U", file), "mail\n");
        assert.match(newBox.step(steps.stragglers(oldAddress(), SR)).stdout, /no message is missing on the new box/);
    });

    it("cutover: the new box soft-bounces and trusts the old one; the frozen old box relays port 25 to it; all undone exactly", async () => {
        const newMain = newBox.exec("postconf", "-n");
        const oldMain = oldBox.exec("postconf", "-n");
        const oldMaster = oldBox.exec("postconf", "-M");
        for (let i = 0; i < 2; i++) {
            newBox.step(steps.softBounce());
            newBox.step(steps.trustOld(oldBox.address));
        }
        assert.equal(newBox.exec("postconf", "-h", "soft_bounce"), "yes\n");
        assert.equal(newBox.exec("postconf", "-h", "mynetworks"), "127.0.0.0/8 198.18.0.40/32\n", "added once");
        const unknown = await smtpSend(newBox.address, "bob@sender.test", ["nobody@example.test"], "Subject: x\n\nx\n");
        assert.deepEqual(unknown, { recipients: { "nobody@example.test": 450 } }, "soft_bounce: a 4xx, never a 5xx");

        for (let i = 0; i < 2; i++) oldBox.step(steps.relay(newBox.address));
        assert.equal(oldBox.exec("postconf", "-h", "virtual_transport", "soft_bounce"), "miab-relay:[198.18.0.41]:25\nyes\n");
        assert.equal(
            oldBox.exec("postconf", "-P", "miab-relay/unix/myhostname"),
            "miab-relay/unix/myhostname = migrate-relay.box.example.test\n",
        );
        assert.match(
            oldBox.exec("ufw", "status"),
            /^Status: active\n\nTo +Action +From\n-+ +-+ +-+\n(22\/tcp +ALLOW +198\.18\.0\.4?1 +# miab-migrate \w+ *\n){2}22\/tcp +LIMIT +Anywhere +\n25\/tcp +ALLOW +Anywhere +\n22\/tcp \(v6\) +LIMIT .*\n25\/tcp \(v6\) .*\n\n$/,
        );
        assert.equal(await answers(oldBox.address, 143), false, "IMAP stays closed on the old box");
        const u = corpus.users[1];
        const onOld = maildirFiles(oldBox, u.email).length;
        const onNew = maildirFiles(newBox, u.email).length;
        const sent = await smtpSend(
            oldBox.address,
            "carol@sender.test",
            [u.email],
            "Subject: to the old address\nMessage-ID: <stale1@sender.test>\n\nhi\n",
        );
        assert.deepEqual(sent, { recipients: { [u.email]: 250 }, data: 250 });
        await waitUntil(() => maildirFiles(newBox, u.email).length !== onNew, 100);
        assert.equal(
            maildirFiles(newBox, u.email).length,
            onNew + 1,
            `relayed to the new box; old box's mail log:\n${oldBox.exec("tail", "-n", "8", "/var/log/mail.log")}`,
        );
        assert.equal(maildirFiles(oldBox, u.email).length, onOld, "nothing stored on the old box");

        for (let i = 0; i < 2; i++) oldBox.step(steps.unrelay());
        assert.equal(await answers(oldBox.address, 25), false);
        assert.equal(oldBox.exec("postconf", "-n"), oldMain);
        assert.equal(oldBox.exec("postconf", "-M"), oldMaster);
        for (let i = 0; i < 2; i++) {
            newBox.step(steps.noSoftBounce());
            newBox.step(steps.untrustOld());
        }
        assert.equal(newBox.exec("postconf", "-n"), newMain);
    });

    it("relay refuses an old box that is not frozen", () => {
        oldBox.exec("mv", "/root/miab-migrate/freeze", "/root/miab-migrate/freeze.aside");
        const r = oldBox.ssh(steps.relay(newBox.address));
        oldBox.exec("mv", "/root/miab-migrate/freeze.aside", "/root/miab-migrate/freeze");
        assert.equal(r.status, 3);
        assert.equal(
            r.stderr,
            "relay: error: the old box is not frozen (freeze.sh close has not run): refusing to relay a box that still delivers locally\n",
        );
    });

    it("monitor provisions certificates, backs up with the old key through real duplicity, verifies it, and reports", () => {
        newBox.exec("mkdir", "-p", "/root/mailinabox/management");
        for (const [fixture, name] of [
            ["miab-backup.sh", "backup.py"],
            ["miab-ssl-certificates.sh", "ssl_certificates.py"],
        ]) {
            newBox.exec("install", "-m", "0755", path.join(ROOT, "test", "fixtures", fixture), `/root/mailinabox/management/${name}`);
        }
        const first = newBox.step(steps.monitor(newBox.address));
        assert.match(first.stderr, /monitor: \[2\/3\] backup with the old box's key and target/);
        const report = JSON.parse(first.stdout);
        assert.deepEqual(report, {
            certificate: { issuer: "CN = box.example.test", notAfter: report.certificate.notAfter },
            backup: { verified: true },
            queue: 0,
            dnsbl: { zone: "zen.spamhaus.org", listed: false, answer: "" },
        });
        assert.match(report.certificate.notAfter, /GMT$/);
        assert.equal(newBox.exec("cat", "/var/log/ssl_certificates-standin.log"), "-q\n");
        const encrypted = readdirSync(lab.file("snew", "home", "user-data", "backup", "encrypted"));
        assert.equal(encrypted.filter((f) => /^duplicity-full\..*\.manifest\.gpg$/.test(f)).length, 1);
        newBox.step(steps.monitor(newBox.address));
        assert.equal(
            readdirSync(lab.file("snew", "home", "user-data", "backup", "encrypted")).filter((f) =>
                /^duplicity-inc\..*\.manifest\.gpg$/.test(f),
            ).length,
            1,
            "the second run adds an increment",
        );
        assert.equal(newBox.exec("systemctl", "is-active", "postfix", "dovecot"), "active\nactive\n", "services back after the backup");
    });

    it("decommission stops and disables the old box's services and parks its nightly job; start undoes it", () => {
        const archive = "/root/miab-migrate-archive.tar.gz";
        for (let i = 0; i < 2; i++) oldBox.step(steps.retire(archive));
        assert.equal(oldBox.ssh("systemctl is-enabled postfix dovecot").stdout, "disabled\ndisabled\n");
        assert.equal(oldBox.ssh("systemctl is-active postfix dovecot").stdout, "inactive\ninactive\n");
        assert.equal(oldBox.ssh("test -e /etc/cron.d/mailinabox-nightly").status, 1);
        assert.equal(oldBox.exec("stat", "-c", "%a", archive), "600\n");
        const listing = oldBox.exec("tar", "-tzf", archive).split("\n");
        assert.ok(listing.includes("./user-data/mail/users.sqlite"));
        assert.ok(!listing.some((l) => l.startsWith("./user-data/backup")), "backup/ (the key) is not archived");

        for (let i = 0; i < 2; i++) oldBox.step(steps.unretire());
        assert.equal(oldBox.ssh("systemctl is-enabled postfix dovecot").stdout, "enabled\nenabled\n");
        assert.equal(
            oldBox.exec("cat", "/etc/cron.d/mailinabox-nightly"),
            "0 3 * * * root (cd /root/mailinabox && management/daily_tasks.sh)\n",
        );
    });

    it("thaw puts the firewall and the services back exactly; revoke and forget remove the transfer key", async () => {
        for (let i = 0; i < 2; i++) oldBox.step(steps.thaw());
        assert.equal(oldBox.exec("ufw", "status", "verbose"), ufwBefore);
        assert.equal(oldBox.exec("systemctl", "is-active", "postfix", "dovecot"), "active\nactive\n");
        assert.equal(await answers(oldBox.address, 25), true);
        assert.match(oldBox.step(steps.thaw()).stdout, /not frozen; nothing to do/);

        for (let i = 0; i < 2; i++) oldBox.step(steps.revokeTransfer());
        assert.doesNotMatch(oldBox.exec("cat", "/root/.ssh/authorized_keys"), /miab-migrate-transfer/);
        assert.doesNotMatch(oldBox.exec("ufw", "status"), /miab-migrate transfer/);
        assert.match(
            oldBox.exec("ufw", "status"),
            /22\/tcp +ALLOW +198\.18\.0\.1 +# miab-migrate operator/,
            "the program's own rule stays",
        );
        assert.equal(oldBox.ssh("true").status, 0, "the operator's own key still works");
        for (let i = 0; i < 2; i++) newBox.step(steps.transferForget());
        assert.equal(newBox.exec("bash", "-c", "test -e /root/miab-migrate/transfer && echo present || echo gone"), "gone\n");
    });

    it("freeze closes a box whose ufw was off, let everything in and had no SSH rule, and thaw leaves it so again", async () => {
        oldBox.exec(
            "bash",
            "-c",
            "ufw --force disable && ufw default allow incoming && ufw delete limit 22/tcp && ufw delete allow from 198.18.0.1 to any port 22 proto tcp",
        );
        const before = oldBox.exec("bash", "-c", "ufw status verbose; cat /etc/ufw/ufw.conf /etc/default/ufw");
        oldBox.step(steps.freeze(22));
        assert.match(oldBox.exec("ufw", "status", "verbose"), /^Status: active\n.*\nDefault: deny \(incoming\), allow \(outgoing\)/s);
        assert.equal(
            oldBox.exec("bash", "-c", "iptables -S ufw-user-input"),
            "-N ufw-user-input\n-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT\n",
        );
        assert.equal(await answers(oldBox.address, 25), false);
        oldBox.step(steps.thaw());
        assert.equal(oldBox.exec("bash", "-c", "ufw status verbose; cat /etc/ufw/ufw.conf /etc/default/ufw"), before);
        assert.equal(await answers(oldBox.address, 25), true);
    });

    it("mail Postfix queued while Dovecot was stopping is taken, and delivered as soon as thaw lets the box serve again", async () => {
        // freeze.sh stops Dovecot before SMTP closes: what arrives meanwhile is queued.
        const user = corpus.users[0].email;
        const [local, domain] = user.split("@");
        oldBox.exec("systemctl", "stop", "dovecot");
        const text = "From: <sender@sender.test>\nMessage-ID: <queued-in-freeze@sender.test>\nSubject: queued\n\nqueued\n";
        const sent = await smtpSend(oldBox.address, "sender@sender.test", [user], text);
        assert.equal(sent.data, 250, "taken, never refused");
        const delivered = () => oldBox.exec("bash", "-c", `grep -rl queued-in-freeze ${SR}/mail/mailboxes/${domain}/${local}/new | wc -l`);
        assert.ok(await waitUntil(() => deferredFor(oldBox, user)), "Postfix keeps it: Dovecot's LMTP is down");
        oldBox.exec("systemctl", "start", "dovecot");

        oldBox.step(steps.freeze(22));
        assert.equal(delivered(), "0\n");
        assert.ok(deferredFor(oldBox, user), "still queued through the freeze");
        oldBox.step(steps.thaw());
        await waitUntil(() => delivered() !== "0\n");
        assert.equal(delivered(), "1\n", "delivered at once, not at Postfix's next queue run minutes later");
        assert.equal(deferredFor(oldBox, user), false, "and no longer queued");
    });
});
