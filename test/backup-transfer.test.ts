/**
 * `transfer: backup` on two test hosts: the frozen old box's final backup through
 * Mail-in-a-Box's backup command (a stand-in running the real duplicity with backup.py's
 * flags), the encrypted backups copied through the transfer gate, and restore.sh's
 * duplicity restore, with the right key and with a wrong one. Each step runs twice.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { steps } from "../lib/steps";
import { type Box, Lab } from "./harness/hosts";
import { imapCount } from "./harness/mail";
import { connectForTransfer, installStandIns, seed } from "./harness/migration";
import { type Corpus, generateCorpus } from "./rehearsal/corpus";

const SR = "/home/user-data";
const lab = new Lab();
let oldBox: Box;
let newBox: Box;
let corpus: Corpus;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const old = () => ({ ipv4: oldBox.address, sshPort: 22, hostKey: oldBox.hostKey() });
const tar64 = (files: Record<string, string>) => {
    const dir = path.join(lab.scratch, `tar-${Object.keys(files).join("-")}`);
    spawnSync("mkdir", ["-p", dir]);
    for (const [name, content] of Object.entries(files)) spawnSync("bash", ["-c", `cat > '${dir}/${name}'`], { input: content });
    return spawnSync("bash", ["-c", `tar -C '${dir}' -cf - ${Object.keys(files).join(" ")} | base64 -w0`], { encoding: "utf8" }).stdout;
};

describe("transfer: backup on test hosts", { concurrency: false }, () => {
    before(() => {
        oldBox = lab.up({ name: "bold", address: "198.18.0.50", hostname: "box.example.test" });
        newBox = lab.up({ name: "bnew", address: "198.18.0.51", hostname: "box.example.test" });
        corpus = generateCorpus({ seed: 5, domains: ["example.test"], usersPerDomain: 2, messagesPerUser: 6, largeMessageBytes: 1 << 20 });
        seed(oldBox, corpus);
        installStandIns(oldBox);
        connectForTransfer(oldBox, newBox);
    });

    after(() => lab.close());

    it("final-backup refuses an old box that is not frozen", () => {
        const r = oldBox.ssh(steps.finalBackup());
        assert.equal(r.status, 3);
        assert.equal(r.stderr, "final-backup: error: the old box is not frozen: the final backup is taken only after freeze.sh close\n");
    });

    it("final-backup takes one duplicity backup of the frozen box and leaves it frozen", () => {
        oldBox.step(steps.freeze(22));
        const first = oldBox.step(steps.finalBackup());
        assert.match(first.stdout, /final-backup: final backup taken; Postfix and Dovecot stopped again\n$/);
        assert.match(
            oldBox.step(steps.finalBackup()).stdout,
            /final-backup: the final backup was taken at \d{4}-\d\d-\d\dT[\d:]+Z; nothing to do\n/,
        );
        const files = readdirSync(lab.file("bold", "home", "user-data", "backup", "encrypted"));
        assert.equal(files.filter((f) => /^duplicity-full\..*\.manifest\.gpg$/.test(f)).length, 1);
        assert.equal(oldBox.ssh("systemctl is-active postfix dovecot").stdout, "inactive\ninactive\n");
    });

    it("pull-backups copies the encrypted backups through the gate; a second run copies nothing", () => {
        newBox.step(steps.pullBackups(old(), SR));
        assert.match(newBox.step(steps.pullBackups(old(), SR)).stdout, /Number of regular files transferred: 0\b/);
        assert.deepEqual(
            readdirSync(lab.file("bnew", "home", "miab-migrate-staging", "encrypted")).sort(),
            readdirSync(lab.file("bold", "home", "user-data", "backup", "encrypted")).sort(),
        );
    });

    it("restore with a wrong backup key fails clearly and changes nothing", () => {
        const before = newBox.exec("bash", "-c", `find ${SR} /home/miab-migrate-staging -printf '%p %s\\n' | sort`);
        const r = newBox.ssh(steps.restoreFromBackup(), tar64({ "secret_key.txt": "not the key\n" }));
        assert.equal(r.status, 5);
        assert.equal(
            r.stderr,
            "restore: error: the backups in /home/miab-migrate-staging/encrypted cannot be decrypted with the old box's secret_key.txt: " +
                "they were made with another key. Nothing was changed\n",
        );
        assert.equal(newBox.exec("bash", "-c", `find ${SR} /home/miab-migrate-staging -printf '%p %s\\n' | sort`), before);
        assert.equal(newBox.exec("systemctl", "is-active", "postfix", "dovecot"), "active\nactive\n");
    });

    it("restore from the backups brings every message and the old box's users onto the new box", async () => {
        const backupFiles = oldBox.step(steps.backupFiles()).stdout;
        for (let i = 0; i < 2; i++) newBox.step(steps.restoreFromBackup(), backupFiles);
        const file = (host: string, ...p: string[]) => readFileSync(lab.file(host, "home", "user-data", ...p));
        assert.equal(sha(file("bnew", "mail", "users.sqlite")), sha(file("bold", "mail", "users.sqlite")));
        assert.deepEqual(file("bnew", "backup", "secret_key.txt"), file("bold", "backup", "secret_key.txt"));
        for (const u of corpus.users) {
            for (const folder of corpus.folders[u.email]) {
                const expected = corpus.messages.filter((m) => m.user === u.email && m.folder === folder).length;
                const name = folder === "" ? "INBOX" : folder.slice(1);
                assert.equal(await imapCount(newBox.address, u.email, u.password, name), expected, `${u.email} ${name}`);
            }
        }
        const newInv = JSON.parse(newBox.step(steps.inventory()).stdout);
        const oldInv = JSON.parse(oldBox.step(steps.inventory()).stdout);
        assert.deepEqual(newInv.mailboxes, oldInv.mailboxes, "the same messages, by file name, in every folder");
    });
});
