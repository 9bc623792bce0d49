/**
 * The test hosts (test/hosts/testhost.sh) that the migration's scripts will run against:
 * two Mail-in-a-Box-shaped boxes with their own addresses, real sshd, Postfix and Dovecot.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { imapCount, smtpSend } from "./harness/mail";
import { waitUntil } from "./harness/migration";
import { ROOT } from "./harness/program";

const TESTHOST = path.join(ROOT, "test", "hosts", "testhost.sh");
const scratch = mkdtempSync(path.join(tmpdir(), "miab-hosts-test-"));
const env = { ...process.env, MIAB_TEST_HOSTS_DIR: path.join(scratch, "hosts") };
const OLD = { name: "old", address: "198.18.0.10", hostname: "box.example.test" };
const NEW = { name: "new", address: "198.18.0.20", hostname: "box.example.test" };
const KEY = path.join(scratch, "id_ed25519");

function testhost(...args: string[]): string {
    const r = spawnSync("bash", [TESTHOST, ...args], { env, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, `testhost ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
}

function ssh(address: string, knownHost: string, command: string) {
    const known = path.join(scratch, `known_hosts-${address}`);
    writeFileSync(known, `${address} ${knownHost}\n`);
    return spawnSync(
        "ssh",
        [
            "-i",
            KEY,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            `UserKnownHostsFile=${known}`,
            `root@${address}`,
            command,
        ],
        { encoding: "utf8", timeout: 30_000 },
    );
}

function addUser(host: string, email: string, password: string) {
    const hash = spawnSync("doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", password], { encoding: "utf8" }).stdout.trim();
    testhost(
        "exec",
        host,
        "sqlite3",
        "/home/user-data/mail/users.sqlite",
        `INSERT INTO users (email, password) VALUES ('${email}', '${hash}')`,
    );
}

const waitFor = async (what: string, check: () => Promise<boolean>) => {
    if (!(await waitUntil(check))) assert.fail(`timed out waiting for ${what}`);
};

describe("test hosts", () => {
    before(() => {
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", KEY]);
        for (const h of [OLD, NEW]) {
            testhost("up", h.name, h.address, h.hostname);
            testhost("exec", h.name, "bash", "-c", `cat > /root/.ssh/authorized_keys <<'EOF'\n${readFileSync(`${KEY}.pub`, "utf8")}EOF`);
            addUser(h.name, "alice@example.test", "alice-password");
        }
        testhost(
            "exec",
            OLD.name,
            "sqlite3",
            "/home/user-data/mail/users.sqlite",
            "INSERT INTO aliases (source, destination) VALUES ('postmaster@example.test', 'alice@example.test')",
        );
    });

    after(() => {
        for (const h of [OLD, NEW]) spawnSync("bash", [TESTHOST, "down", h.name], { env });
        rmSync(scratch, { recursive: true, force: true });
    });

    it("answer SSH on their own address with their own pinned host key, and refuse a wrong one", () => {
        const oldKey = testhost("hostkey", OLD.name).trim();
        const newKey = testhost("hostkey", NEW.name).trim();
        assert.match(oldKey, /^ssh-ed25519 AAAA\S+$/);
        assert.notEqual(oldKey, newKey);
        const ok = ssh(OLD.address, oldKey, "cat /etc/mailname; ls /home/user-data/mail");
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(ok.stdout, "box.example.test\ndkim\nmailboxes\nusers.sqlite\n");
        const wrong = ssh(NEW.address, oldKey, "true");
        assert.equal(wrong.status, 255);
        assert.match(wrong.stderr, /Host key verification failed/);
    });

    it("deliver SMTP mail to users and aliases into Maildir through Dovecot, and refuse unknown users", async () => {
        const direct = await smtpSend(
            OLD.address,
            "bob@sender.test",
            ["alice@example.test", "nobody@example.test"],
            "From: bob@sender.test\nTo: alice@example.test\nSubject: hello\nMessage-ID: <m1@sender.test>\n\nhello\n",
        );
        assert.deepEqual(direct, { recipients: { "alice@example.test": 250, "nobody@example.test": 550 }, data: 250 });
        const alias = await smtpSend(OLD.address, "bob@sender.test", ["postmaster@example.test"], "Subject: to the alias\n\nhi\n");
        assert.deepEqual(alias, { recipients: { "postmaster@example.test": 250 }, data: 250 });
        const maildir = path.join(env.MIAB_TEST_HOSTS_DIR, "old", "home", "user-data", "mail", "mailboxes", "example.test", "alice");
        await waitFor("delivery", async () => existsSync(path.join(maildir, "new")) && readdirSync(path.join(maildir, "new")).length === 2);
        const subjects = readdirSync(path.join(maildir, "new"))
            .map((f) => readFileSync(path.join(maildir, "new", f), "utf8"))
            .map((text) => `${/^Subject: (.*)$/m.exec(text)?.[1]} / ${/^Delivered-To: (.*)$/m.exec(text)?.[1]}`)
            .sort();
        assert.deepEqual(subjects, ["hello / alice@example.test", "to the alias / alice@example.test"]);
        assert.equal(await imapCount(OLD.address, "alice@example.test", "alice-password"), 2);
        await assert.rejects(imapCount(OLD.address, "alice@example.test", "wrong"), /IMAP login failed/);
    });

    it("keep their files apart from each other and from this machine", async () => {
        assert.equal(await imapCount(NEW.address, "alice@example.test", "alice-password"), 0);
        testhost("exec", OLD.name, "bash", "-c", "echo old > /etc/only-on-old");
        assert.equal(spawnSync("bash", [TESTHOST, "exec", NEW.name, "test", "-e", "/etc/only-on-old"], { env }).status, 1);
        assert.equal(existsSync("/etc/only-on-old"), false);
    });

    it("are gone after down", () => {
        testhost("down", NEW.name);
        assert.doesNotMatch(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout, /miab-new\b/);
        assert.equal(existsSync(path.join(env.MIAB_TEST_HOSTS_DIR, "new")), false);
        testhost("up", NEW.name, NEW.address, NEW.hostname);
    });
});
