/** The rehearsal's mail corpus: deterministic, with the hard cases, readable by a real Dovecot. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { imapCount } from "./harness/mail";
import { ROOT } from "./harness/program";
import { type Corpus, encodeMailboxName, generateCorpus, writeCorpus } from "./rehearsal/corpus";

const OPTIONS = { seed: 7, domains: ["example.test", "example.org"], usersPerDomain: 2, messagesPerUser: 12 };

describe("encodeMailboxName (modified UTF-7)", () => {
    it("encodes as RFC 3501 does", () => {
        assert.equal(encodeMailboxName("Entwürfe"), "Entw&APw-rfe");
        assert.equal(encodeMailboxName("台北"), "&U,BTFw-");
        assert.equal(encodeMailboxName("日本語"), "&ZeVnLIqe-");
        assert.equal(encodeMailboxName("Ärger & Co"), "&AMQ-rger &- Co");
        assert.equal(encodeMailboxName("Archive"), "Archive");
    });
});

describe("generateCorpus", () => {
    const corpus = generateCorpus({ ...OPTIONS, largeMessageBytes: 1024 });

    it("is deterministic: the same seed gives the same corpus, another seed another one", () => {
        assert.deepEqual(generateCorpus({ ...OPTIONS, largeMessageBytes: 1024 }), corpus);
        const other = generateCorpus({ ...OPTIONS, seed: 8, largeMessageBytes: 1024 });
        assert.notDeepEqual(
            other.messages.map((m) => m.sha256),
            corpus.messages.map((m) => m.sha256),
        );
    });

    it("has the hard cases", () => {
        assert.equal(corpus.users.length, 4);
        assert.equal(corpus.messages.length, 4 * 12 + 1);
        assert.equal(new Set(corpus.messages.map((m) => m.messageId)).size, corpus.messages.length, "Message-IDs are unique");
        assert.deepEqual(corpus.folders["user1@example.test"], [
            "",
            ".Archive",
            ".Entw&APw-rfe",
            ".Projects.2026",
            ".Projects.&AMQ-rger &- Co",
            ".Trash",
            ".Empty",
        ]);
        const used = new Set(corpus.messages.map((m) => m.folder));
        for (const f of [".Entw&APw-rfe", ".Projects.2026", ".Projects.&AMQ-rger &- Co", ""]) assert.ok(used.has(f), f);
        assert.ok(!used.has(".Trash") && !used.has(".Empty"), "two folders stay empty");
        assert.ok(
            corpus.messages.some((m) => m.file.startsWith("new/") && !m.file.includes(":2,")),
            "unread mail in new/",
        );
        assert.ok(
            corpus.messages.some((m) => m.file.endsWith(":2,FS")),
            "flags in file names",
        );
        assert.ok(
            corpus.aliases.some((a) => a.destination.includes(",")),
            "an alias to several users",
        );
        assert.match(corpus.sieve["user1@example.test"], /fileinto "Archive"/);
    });

    it("includes a 20 MiB message by default", () => {
        const big = generateCorpus({ ...OPTIONS, usersPerDomain: 1, messagesPerUser: 1 }).messages.find((m) =>
            m.messageId.includes("large"),
        );
        assert.ok(big && Buffer.byteLength(big.content) >= 20 * 1024 * 1024);
        assert.match(big.file, /,S=\d+:2,S$/);
        assert.equal(Number(/,S=(\d+)/.exec(big.file)?.[1]), Buffer.byteLength(big.content));
    });
});

describe("a corpus written on a test host", () => {
    const TESTHOST = path.join(ROOT, "test", "hosts", "testhost.sh");
    const scratch = mkdtempSync(path.join(tmpdir(), "miab-corpus-test-"));
    const env = { ...process.env, MIAB_TEST_HOSTS_DIR: path.join(scratch, "hosts") };
    const host = (...args: string[]) => {
        const r = spawnSync("bash", [TESTHOST, ...args], { env, encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout;
    };
    let corpus: Corpus;

    before(() => {
        host("up", "corpus", "198.18.0.30", "box.example.test");
        corpus = generateCorpus(OPTIONS);
        const hash = (pw: string) => spawnSync("doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", pw], { encoding: "utf8" }).stdout.trim();
        const sql = writeCorpus(path.join(env.MIAB_TEST_HOSTS_DIR, "corpus", "home", "user-data"), corpus, hash);
        host("exec", "corpus", "sqlite3", "/home/user-data/mail/users.sqlite", sql);
        host("exec", "corpus", "chown", "-R", "mail:mail", "/home/user-data/mail");
    });

    after(() => {
        spawnSync("bash", [TESTHOST, "down", "corpus"], { env });
        rmSync(scratch, { recursive: true, force: true });
    });

    it("is what Dovecot serves: every folder of every user holds the corpus's messages", async () => {
        for (const u of corpus.users) {
            for (const folder of corpus.folders[u.email]) {
                const expected = corpus.messages.filter((m) => m.user === u.email && m.folder === folder).length;
                const name = folder === "" ? "INBOX" : folder.slice(1);
                assert.equal(await imapCount("198.18.0.30", u.email, u.password, name), expected, `${u.email} ${name}`);
            }
        }
    });

    it("users and aliases are in Mail-in-a-Box's users.sqlite", () => {
        const out = host(
            "exec",
            "corpus",
            "sqlite3",
            "/home/user-data/mail/users.sqlite",
            "SELECT count(*) FROM users; SELECT source FROM aliases ORDER BY source;",
        );
        assert.equal(out, ["4", ...corpus.aliases.map((a) => a.source).sort()].join("\n") + "\n");
    });
});
