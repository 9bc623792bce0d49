/**
 * scripts/install-miab.sh run for real under bash: argument handling, the system and network
 * checks, the timeout and the failure messages. The steps that change the box run inside
 * test/harness/sandbox.sh (private /etc, /root, /var/log and network), against a stand-in for
 * Mail-in-a-Box's setup (test/fixtures/fake-miab-start.sh) fetched with real git from a local
 * repository tagged v75.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
    copyFileSync,
    cpSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readFileSync,
    rmSync,
    statSync,
    unlinkSync,
    writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT } from "./harness/program";

const SCRIPT = path.join(ROOT, "scripts", "install-miab.sh");
const SANDBOX = path.join(ROOT, "test", "harness", "sandbox.sh");
const PASSWORD = "s3cret-Admin-Passw0rd-for-tests";
const ARGS = [
    "--hostname",
    "box.example.com",
    "--public-ip",
    "203.0.113.50",
    "--public-ipv6",
    "2001:db8:50::2",
    "--tag",
    "v75",
    "--admin-email",
    "admin@box.example.com",
];

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
}

const scratch = mkdtempSync(path.join(tmpdir(), "miab-install-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A git repository standing in for mail-in-a-box/mailinabox, with the tag v75. */
function fakeMiabRepo(): string {
    const repo = path.join(scratch, "mailinabox.git");
    if (existsSync(repo)) return repo;
    mkdirSync(path.join(repo, "setup"), { recursive: true });
    copyFileSync(path.join(ROOT, "test", "fixtures", "fake-miab-start.sh"), path.join(repo, "setup", "start.sh"));
    const git = (...a: string[]) => {
        const r = spawnSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", ...a], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
    };
    git("init", "-q");
    git("add", ".");
    git("commit", "-qm", "fake setup");
    git("tag", "v75");
    return repo;
}

/** A fresh box: a copy of /etc that says Ubuntu 22.04, plus an empty /root and /var/log. */
function newBox(extraHosts = ""): string {
    const work = mkdtempSync(path.join(scratch, "box-"));
    cpSync("/etc", path.join(work, "etc"), { recursive: true, verbatimSymlinks: true });
    // /etc/os-release is a symlink into /usr: replace the link, never write through it.
    unlinkSync(path.join(work, "etc", "os-release"));
    writeFileSync(path.join(work, "etc", "os-release"), 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n');
    if (extraHosts) writeFileSync(path.join(work, "etc", "hosts"), readFileSync("/etc/hosts", "utf8") + extraHosts);
    mkdirSync(path.join(work, "out"));
    return work;
}

/** Runs the script in the box `work`; `smtp` starts a listener on 127.0.0.1:25 first. */
function inBox(work: string, args: string[], opts: { mode?: string; smtp?: boolean; stdin?: string } = {}): Run {
    const listener =
        (opts.smtp ?? true)
            ? "/usr/bin/python3 -c 'import socket,time;s=socket.socket();s.bind((\"127.0.0.1\",25));s.listen();time.sleep(600)' & sleep 0.3; "
            : "";
    const r = spawnSync(SANDBOX, [work, "bash", "-c", `${listener}exec bash "$0" "$@"`, SCRIPT, ...args], {
        input: opts.stdin ?? `${PASSWORD}\n`,
        encoding: "utf8",
        env: { ...process.env, FAKE_MIAB_MODE: opts.mode ?? "ok", FAKE_MIAB_OUT: path.join(work, "out") },
        timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const boxArgs = (extra: string[] = []) => [...ARGS, "--repo", `file://${fakeMiabRepo()}`, "--smtp-probe", "127.0.0.1", ...extra];

function run(args: string[], stdin = `${PASSWORD}\n`): Run {
    const r = spawnSync("bash", [SCRIPT, ...args], { input: stdin, encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lastError = (r: Run) => r.stderr.trim().split("\n").pop();

describe("install-miab.sh argument handling", () => {
    const cases: [string, string[], string][] = [
        ["no arguments", [], "install-miab: error: --hostname is required"],
        [
            "a hostname that is not an FQDN",
            ["--hostname", "box"],
            "install-miab: error: --hostname must be a fully qualified domain name (got 'box')",
        ],
        [
            "a bad IPv4",
            [...ARGS.slice(0, 2), "--public-ip", "auto"],
            "install-miab: error: --public-ip must be an IPv4 address (got 'auto')",
        ],
        [
            "a bad IPv6",
            [...ARGS.slice(0, 4), "--public-ipv6", "none"],
            "install-miab: error: --public-ipv6 must be an IPv6 address (got 'none')",
        ],
        [
            "a bad tag",
            [...ARGS.slice(0, 6), "--tag", "main"],
            "install-miab: error: --tag must be a Mail-in-a-Box release tag such as v75 (got 'main')",
        ],
        [
            "a bad email",
            [...ARGS.slice(0, 8), "--admin-email", "admin"],
            "install-miab: error: --admin-email must be an email address (got 'admin')",
        ],
        [
            "a bad timeout",
            [...ARGS, "--timeout-seconds", "soon"],
            "install-miab: error: --timeout-seconds must be a positive number (got 'soon')",
        ],
        ["an unknown option", [...ARGS, "--force", "yes"], "install-miab: error: unknown option --force"],
        ["an option without value", [...ARGS, "--tag"], "install-miab: error: option --tag needs a value"],
    ];
    for (const [what, args, message] of cases) {
        it(`refuses ${what} with exit code 2 and the usage`, () => {
            const r = run(args);
            assert.equal(r.status, 2);
            assert.equal(lastError(r), message);
            assert.match(r.stderr, /^Usage:\n {2}install-miab\.sh --hostname FQDN/);
            assert.equal(r.stdout, "");
        });
    }

    it("requires the admin password on stdin", () => {
        const r = run(ARGS, "short\n");
        assert.equal(r.status, 2);
        assert.equal(lastError(r), "install-miab: error: the admin password must come on stdin, at least 8 characters");
    });
});

describe("install-miab.sh on a box", () => {
    before(() => {
        fakeMiabRepo();
    });

    it("refuses a system other than Ubuntu 22.04 (this test machine's own release)", () => {
        const release = readFileSync("/etc/os-release", "utf8");
        const id = /^ID=(.*)$/m.exec(release)?.[1].replace(/"/g, "");
        const version = /^VERSION_ID=(.*)$/m.exec(release)?.[1].replace(/"/g, "");
        assert.notEqual(`${id} ${version}`, "ubuntu 22.04", "this test needs a machine that is not Ubuntu 22.04");
        const r = run(ARGS);
        assert.equal(r.status, 3);
        assert.equal(
            lastError(r),
            `install-miab: error: Mail-in-a-Box v75 installs only on Ubuntu 22.04; this box runs ${id} ${version}. Use the image ubuntu-22-04-x64 (config newServer.image).`,
        );
    });

    it("says what to do when outbound port 25 is blocked", () => {
        const r = inBox(newBox(), boxArgs(), { smtp: false });
        assert.equal(r.status, 4);
        assert.equal(
            lastError(r),
            "install-miab: error: outbound port 25 is blocked: could not connect to 127.0.0.1:25. Mail-in-a-Box needs it to deliver mail. DigitalOcean blocks SMTP on new accounts: open a support ticket asking them to allow outbound SMTP for this droplet, then run pulumi up again.",
        );
        assert.equal(
            r.stdout,
            "==> [1/6] checking the system\n==> [2/6] waiting for cloud-init\ncloud-init is not installed: nothing to wait for\n==> [3/6] checking the network (outbound port 25, Spamhaus)\n",
        );
    });

    it("refuses an address listed by Spamhaus ZEN", () => {
        const r = inBox(newBox("127.0.0.2 50.113.0.203.zen.spamhaus.org\n"), boxArgs());
        assert.equal(r.status, 4);
        assert.match(
            lastError(r) ?? "",
            /^install-miab: error: the droplet's address 203\.0\.113\.50 is listed in the Spamhaus Block List \(127\.0\.0\.2\); mail from it would be rejected\./,
        );
    });

    it("warns, and goes on, when Spamhaus refuses to answer", () => {
        const work = newBox("127.255.255.254 50.113.0.203.zen.spamhaus.org\n");
        const r = inBox(work, boxArgs());
        assert.equal(r.status, 0, r.stderr);
        assert.match(
            r.stdout,
            /^warning: Spamhaus refused the query \(127\.255\.255\.254\): the DNSBL status of 203\.0\.113\.50 is unknown$/m,
        );
    });

    let work: string;
    let first: Run;
    it("installs: fetches the tag, runs setup unattended with the right variables, checks the result", () => {
        work = newBox();
        first = inBox(work, boxArgs());
        assert.equal(first.status, 0, first.stderr);
        const commit = spawnSync("git", ["-C", fakeMiabRepo(), "rev-parse", "v75"], { encoding: "utf8" }).stdout.trim();
        assert.equal(
            first.stdout,
            [
                "==> [1/6] checking the system",
                "==> [2/6] waiting for cloud-init",
                "cloud-init is not installed: nothing to wait for",
                "==> [3/6] checking the network (outbound port 25, Spamhaus)",
                "==> [4/6] fetching Mail-in-a-Box v75",
                `Mail-in-a-Box v75 at commit ${commit}`,
                "==> [5/6] running Mail-in-a-Box setup for box.example.com (this takes 10 to 30 minutes)",
                "setup output follows (also in /var/log/miab-migrate/install.log)",
                "Installing Postfix (SMTP server)...",
                "Your Mail-in-a-Box is running.",
                "==> [6/6] checking the result",
                "Mail-in-a-Box v75 is installed on box.example.com",
                "",
            ].join("\n"),
        );
        assert.equal(first.stderr, "");
        const sha = spawnSync("sha256sum", { input: PASSWORD, encoding: "utf8" }).stdout.split(" ")[0];
        assert.equal(
            readFileSync(path.join(work, "out", "env.txt"), "utf8"),
            [
                "PWD=/root/mailinabox",
                "NONINTERACTIVE=1",
                "PRIMARY_HOSTNAME=box.example.com",
                "PUBLIC_IP=203.0.113.50",
                "PUBLIC_IPV6=2001:db8:50::2",
                "EMAIL_ADDR=admin@box.example.com",
                `EMAIL_PW_SHA256=${sha}`,
                "STDIN=",
                "",
            ].join("\n"),
        );
        assert.equal(readFileSync(path.join(work, "etc", "mailinabox.conf"), "utf8").split("\n")[2], "PRIMARY_HOSTNAME=box.example.com");
        assert.equal(statSync(path.join(work, "log", "miab-migrate")).mode & 0o777, 0o700);
        assert.equal(
            readFileSync(path.join(work, "log", "miab-migrate", "install.log"), "utf8"),
            "Installing Postfix (SMTP server)...\nYour Mail-in-a-Box is running.\n",
        );
    });

    it("never puts the password on a command line, in the output or in the log", () => {
        const ps = readFileSync(path.join(work, "out", "ps.txt"), "utf8");
        assert.match(ps, /setup\/start\.sh/, "the process list was taken while setup ran");
        for (const text of [ps, first.stdout, first.stderr, readFileSync(path.join(work, "log", "miab-migrate", "install.log"), "utf8")]) {
            assert.ok(!text.includes(PASSWORD));
        }
    });

    it("runs again on the same box with the same result (setup is the repair path)", () => {
        const again = inBox(work, boxArgs());
        assert.equal(again.status, 0, again.stderr);
        assert.equal(again.stdout, first.stdout);
        const runs = readFileSync(path.join(work, "out", "env.txt"), "utf8").split("PWD=").length - 1;
        assert.equal(runs, 2);
        assert.equal(readFileSync(path.join(work, "log", "miab-migrate", "install.log"), "utf8").split("Installing Postfix").length - 1, 2);
    });

    it("stops setup at the deadline with a clear message", () => {
        const started = Date.now();
        const r = inBox(newBox(), boxArgs(["--timeout-seconds", "3"]), { mode: "sleep" });
        assert.equal(r.status, 6);
        assert.equal(
            lastError(r),
            "install-miab: error: Mail-in-a-Box setup did not finish within 3 seconds (see /var/log/miab-migrate/install.log); run pulumi up again to retry, setup is safe to re-run",
        );
        assert.ok(Date.now() - started < 60_000, "setup's processes were killed, not waited for");
    });

    it("explains Mail-in-a-Box's own port 25 failure", () => {
        const r = inBox(newBox(), boxArgs(), { mode: "port25" });
        assert.equal(r.status, 4);
        assert.equal(
            lastError(r),
            "install-miab: error: Mail-in-a-Box setup stopped: outbound port 25 is blocked. DigitalOcean blocks SMTP on new accounts: ask their support to allow it, then run pulumi up again.",
        );
    });

    it("explains Mail-in-a-Box's own wrong-release failure", () => {
        const r = inBox(newBox(), boxArgs(), { mode: "ubuntu" });
        assert.equal(r.status, 3);
        assert.equal(
            lastError(r),
            "install-miab: error: Mail-in-a-Box setup stopped: wrong Ubuntu release (details in /var/log/miab-migrate/install.log). Use the image ubuntu-22-04-x64.",
        );
    });

    it("reports any other setup failure with its exit code, its output shown", () => {
        const r = inBox(newBox(), boxArgs(), { mode: "fail" });
        assert.equal(r.status, 5);
        assert.match(r.stdout, /^E: Unable to locate package nsd$/m);
        assert.equal(
            lastError(r),
            "install-miab: error: Mail-in-a-Box setup failed with exit code 3; its last lines are above and all of it is in /var/log/miab-migrate/install.log",
        );
    });

    it("does not trust setup's exit code 0 when it installed nothing", () => {
        const r = inBox(newBox(), boxArgs(), { mode: "noconf" });
        assert.equal(r.status, 5);
        assert.equal(
            lastError(r),
            "install-miab: error: setup exited without configuring box.example.com in /etc/mailinabox.conf; see /var/log/miab-migrate/install.log",
        );
    });
});
