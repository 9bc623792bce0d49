/**
 * scripts/ssh-access.sh on a test host with Mail-in-a-Box's SSH rate limit (`ufw limit`):
 * a burst of connections like the program's is refused without it and passes with it,
 * and the script changes only the rules it marked.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { readScript, shellQuote } from "../lib/scripts";
import { OLD_BOX_SCRIPTS, sshAccessCommand } from "../lib/steps";
import { type Box, Lab } from "./harness/hosts";

const lab = new Lab();
let box: Box;
const SCRIPT = "/root/miab-migrate/ssh-access.sh";
const MARK = "comment=6d6961622d6d696772617465206f70657261746f72"; // "miab-migrate operator", hex

/** `count` SSH connections at once from this machine: how many got in. */
async function burst(count: number): Promise<number> {
    const runs = await Promise.all(Array.from({ length: count }, () => box.sshAsync("true").done));
    return runs.filter((r) => r.status === 0).length;
}

/** Forgets the connections counted so far (what 30 quiet seconds would do). */
function forgetConnections() {
    box.exec("sh", "-c", "echo / > /proc/net/xt_recent/DEFAULT");
}

/** The "### tuple ###" lines of ufw's IPv4 and IPv6 user rules about port 22. */
function sshTuples(): string[] {
    const out = box.exec("sh", "-c", "grep -h '^### tuple ### [a-z]* tcp 22 ' /etc/ufw/user.rules /etc/ufw/user6.rules || true");
    return out.split("\n").filter((l) => l !== "");
}

const run = (...args: string[]) => box.ssh([SCRIPT, ...args].map(shellQuote).join(" "));

describe("ssh-access on a host with Mail-in-a-Box's SSH rate limit", { concurrency: false }, () => {
    before(() => {
        box = lab.up({ name: "acc", address: "198.18.0.70", hostname: "box.example.test" }, { sshAccess: false });
    });

    after(() => lab.close());

    it("without it a burst of connections is refused; the program's first command lets this machine's address through", async () => {
        assert.deepEqual(sshTuples(), [
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            "### tuple ### limit tcp 22 ::/0 any ::/0 in",
        ]);
        // As many at once as the old box's script uploads (lib/steps.ts OLD_BOX_SCRIPTS).
        const got = await burst(OLD_BOX_SCRIPTS.length);
        assert.ok(got <= 6, `${got} of ${OLD_BOX_SCRIPTS.length} connections got in past ufw limit`);
        forgetConnections();

        const r = box.ssh(sshAccessCommand("root", 22, "prepare"), readScript("ssh-access.sh"));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(
            r.stdout,
            "ssh-access: 198.18.0.1 may open SSH connections to port 22 without the rate limit (ufw rule '# miab-migrate operator')\n",
        );
        assert.deepEqual(sshTuples(), [
            `### tuple ### allow tcp 22 0.0.0.0/0 any 198.18.0.1 in ${MARK}`,
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            "### tuple ### limit tcp 22 ::/0 any ::/0 in",
        ]);
        assert.match(box.exec("ufw", "status", "numbered"), /\[ 1\] 22\/tcp +ALLOW IN +198\.18\.0\.1 +# miab-migrate operator\n/);
        assert.equal(await burst(OLD_BOX_SCRIPTS.length), OLD_BOX_SCRIPTS.length);
        assert.equal(box.exec("cat", "/root/miab-migrate/ssh-access/operator"), "prepare\n");
    });

    it("run again it changes nothing; a rule for an earlier address is replaced, never kept", () => {
        const again = box.ssh(sshAccessCommand("root", 22, "provision"), readScript("ssh-access.sh"));
        assert.equal(again.stdout, "ssh-access: 198.18.0.1 already passes the rate limit on port 22\n");
        const rules = sshTuples();

        // The program's address moves (a CI runner's does): only the new one stays allowed.
        const moved = run("allow", "--label", "operator", "--port", "22", "--from", "203.0.113.9", "--run", "freeze");
        assert.equal(moved.status, 0, moved.stderr);
        assert.equal(
            moved.stdout,
            "ssh-access: 203.0.113.9 may open SSH connections to port 22 without the rate limit (ufw rule '# miab-migrate operator')\n" +
                "ssh-access: removed the earlier rule for 198.18.0.1 to port 22\n",
        );
        assert.deepEqual(sshTuples(), [
            `### tuple ### allow tcp 22 0.0.0.0/0 any 203.0.113.9 in ${MARK}`,
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            "### tuple ### limit tcp 22 ::/0 any ::/0 in",
        ]);
        const back = box.ssh(sshAccessCommand("root", 22, "restore"), readScript("ssh-access.sh"));
        assert.equal(back.status, 0, back.stderr);
        assert.deepEqual(sshTuples(), rules);
        assert.equal(run("status").stdout, "operator 22 198.18.0.1\n");
    });

    it("IPv6 and IPv4-mapped addresses are written as ufw writes them; with ufw's IPv6 off nothing changes", () => {
        run("allow", "--label", "operator", "--port", "22", "--from", "2001:DB8:0::1", "--run", "verify");
        assert.deepEqual(sshTuples(), [
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            `### tuple ### allow tcp 22 ::/0 any 2001:db8::1 in ${MARK}`,
            "### tuple ### limit tcp 22 ::/0 any ::/0 in",
        ]);
        run("allow", "--label", "operator", "--port", "22", "--from", "::ffff:198.18.0.1", "--run", "verify");
        assert.equal(run("status").stdout, "operator 22 198.18.0.1\n");

        box.exec("sed", "-i", "s/^IPV6=yes/IPV6=no/", "/etc/default/ufw");
        try {
            const r = run("allow", "--label", "operator", "--port", "22", "--from", "2001:db8::1", "--run", "verify");
            assert.equal(
                r.stdout,
                "ssh-access: ufw does not filter IPv6 (IPV6=no in /etc/default/ufw): no SSH rate limit for 2001:db8::1 to pass\n",
            );
            assert.equal(run("status").stdout, "operator 22 198.18.0.1\n");
        } finally {
            box.exec("sed", "-i", "s/^IPV6=no/IPV6=yes/", "/etc/default/ufw");
        }
    });

    it("remove takes only the marked rules away, and not while a later run owns them", () => {
        const early = run("remove", "--label", "operator", "--run", "prepare");
        assert.equal(early.stdout, "ssh-access: the rules of 'operator' belong to run verify, not prepare: left in place\n");
        assert.equal(run("status").stdout, "operator 22 198.18.0.1\n");

        // The administrator's own rules: another address on port 22, ours on port 2222.
        box.exec("ufw", "allow", "from", "192.0.2.7", "to", "any", "port", "22", "proto", "tcp");
        box.exec("ufw", "allow", "from", "198.18.0.1", "to", "any", "port", "2222", "proto", "tcp");
        const r = run("remove", "--label", "operator", "--run", "verify");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "ssh-access: removed the rule for 198.18.0.1 to port 22\n");
        assert.equal(box.exec("sh", "-c", "ls /root/miab-migrate/ssh-access"), "");
        assert.deepEqual(sshTuples(), [
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            "### tuple ### allow tcp 22 0.0.0.0/0 any 192.0.2.7 in",
            "### tuple ### limit tcp 22 ::/0 any ::/0 in",
        ]);
        assert.match(box.exec("ufw", "status"), /2222\/tcp +ALLOW +198\.18\.0\.1 *\n/);
    });

    it("an administrator's own rule for the address is used and never removed; one after the limit is refused with what to do", () => {
        forgetConnections();
        box.exec("ufw", "prepend", "allow", "from", "198.18.0.1", "to", "any", "port", "22", "proto", "tcp");
        const r = run("allow", "--label", "operator", "--port", "22", "--from", "198.18.0.1", "--run", "cutover");
        assert.equal(r.stdout, "ssh-access: an existing rule already allows 198.18.0.1 to port 22; it is left as it is\n");
        assert.equal(run("remove", "--label", "operator", "--run", "cutover").stdout, "");
        const own = "### tuple ### allow tcp 22 0.0.0.0/0 any 198.18.0.1 in";
        assert.equal(sshTuples()[0], own);

        // The same rule added with `ufw allow` lands after the limit, where it does not help.
        box.exec("ufw", "delete", "allow", "from", "198.18.0.1", "to", "any", "port", "22", "proto", "tcp");
        box.exec("ufw", "allow", "from", "198.18.0.1", "to", "any", "port", "22", "proto", "tcp");
        const tuples = sshTuples();
        assert.deepEqual(tuples.slice(0, 3), [
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
            "### tuple ### allow tcp 22 0.0.0.0/0 any 192.0.2.7 in",
            own,
        ]);
        const late = run("allow", "--label", "operator", "--port", "22", "--from", "198.18.0.1", "--run", "cutover");
        assert.equal(late.status, 3);
        assert.equal(
            late.stderr,
            "ssh-access: error: an existing rule allows 198.18.0.1 to port 22, but after the rate limit, where it does not help (ufw status numbered); ufw will not add a second one: remove it (ufw delete allow from 198.18.0.1 to any port 22 proto tcp), then run again\n",
        );
        assert.deepEqual(sshTuples(), tuples);

        // Done as the message says, the next run puts the program's own rule first.
        box.exec("ufw", "delete", "allow", "from", "198.18.0.1", "to", "any", "port", "22", "proto", "tcp");
        const fixed = box.ssh(sshAccessCommand("root", 22, "cutover"), readScript("ssh-access.sh"));
        assert.equal(fixed.status, 0, fixed.stderr);
        assert.equal(sshTuples()[0], `${own} ${MARK}`);
    });

    it("refuses bad arguments with exit 2 and says what is wrong, changing nothing", () => {
        const rules = sshTuples();
        const cases: [string[], string][] = [
            [
                [],
                "usage: ssh-access.sh allow --label LABEL --port PORT --from ADDRESS [--run ID] | remove --label LABEL [--run ID] | status",
            ],
            [["open"], "unknown command 'open'; commands: allow, remove, status"],
            [
                ["allow", "--label", "operator", "--port", "22", "--form", "192.0.2.1"],
                "unknown option '--form'; options: --label, --port, --from, --run",
            ],
            [["allow", "--label", "operator", "--port"], "usage: ssh-access.sh allow"],
            [
                ["allow", "--label", "Operator", "--port", "22", "--from", "192.0.2.1"],
                "--label must be lower-case letters and dashes, got 'Operator'",
            ],
            [
                ["allow", "--label", "operator", "--port", "22", "--from", "192.0.2.1", "--run", "a;b"],
                "--run must be letters, digits, '.', '_' or '-', got 'a;b'",
            ],
            [["allow", "--label", "operator", "--port", "65536", "--from", "192.0.2.1"], "--port must be 1-65535, got '65536'"],
            [
                ["allow", "--label", "operator", "--port", "22", "--from", ""],
                "--from is empty: the program passes the address sshd saw ($SSH_CLIENT), which only an SSH session has",
            ],
            [
                ["allow", "--label", "operator", "--port", "22", "--from", "192.0.2.300"],
                "--from must be an IPv4 or IPv6 address, got '192.0.2.300'",
            ],
            [
                ["allow", "--label", "operator", "--port", "22", "--from", "box.example.test"],
                "--from must be an IPv4 or IPv6 address, got 'box.example.test'",
            ],
            [["remove", "--label", "operator", "--port", "22"], "usage: ssh-access.sh allow"],
            [["status", "--label", "operator"], "usage: ssh-access.sh allow"],
        ];
        for (const [args, message] of cases) {
            const r = run(...args);
            assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
            assert.ok(r.stderr.startsWith(`ssh-access: error: ${message}`), `${args.join(" ")}: ${r.stderr}`);
        }
        assert.deepEqual(sshTuples(), rules);
    });
});
