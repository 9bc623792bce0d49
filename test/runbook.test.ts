/** The runbook: the plan of a stack, printed from the program's own phase model and step plan. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { runbook } from "../ci/runbook";
import { sshAccessCommand } from "../lib/steps";
import { readStackFile } from "../ci/stackFile";
import { ROOT, withKey } from "./harness/program";

describe("runbook", () => {
    it("prints each phase with its commands, the steps on each box with their undo, and the guards", () => {
        const text = runbook("prod", readStackFile("prod"));
        const lines = text.split("\n");
        assert.equal(lines[0], "miab-migrate runbook for stack prod: box.example.com, old box 203.0.113.10, now in phase prepare");
        assert.equal(lines[2], "Before anything else: pulumi config set --secret sshPrivateKey < ~/.ssh/miab-migrate");
        const freeze = text.slice(text.indexOf("3. freeze"), text.indexOf("4. restore"));
        assert.equal(
            freeze,
            [
                "3. freeze: old box stops taking mail; final transfer",
                "   run: pulumi config set -s prod phase freeze && pulumi preview -s prod && pulumi up -s prod",
                `   - on the old box root@203.0.113.10:22, first: let the address this runs from past Mail-in-a-Box's SSH rate limit (ufw rule "# miab-migrate operator"), then upload the scripts`,
                `       runs: ${sshAccessCommand("root", 22, "freeze")}  (stdin: scripts/ssh-access.sh)`,
                "       undo (pulumi destroy): /root/miab-migrate/ssh-access.sh remove --label operator --run freeze",
                `   - on the new box root@<new box IPv4>, first (after the install): let the address this runs from past Mail-in-a-Box's SSH rate limit (ufw rule "# miab-migrate operator"), then upload the scripts`,
                `       runs: ${sshAccessCommand("root", 22, "freeze")}  (stdin: scripts/ssh-access.sh)`,
                "       undo (pulumi destroy): /root/miab-migrate/ssh-access.sh remove --label operator --run freeze",
                "   - on the old box root@203.0.113.10:22: old box: firewall closed but SSH (port 22), Postfix and Dovecot stopped; undo: serves again as before",
                "       runs: /root/miab-migrate/freeze.sh close --ssh-port 22",
                "       undo: /root/miab-migrate/freeze.sh open",
                "   - on the new box root@<new box IPv4>: final copy from the frozen old box (rsync: only what changed since the pre-copy)",
                "       runs: /root/miab-migrate/transfer.sh pull --old 203.0.113.10 --port 22 --source-root /home/user-data --dest /home/miab-migrate-staging/user-data",
                "",
                "",
            ].join("\n"),
        );
        assert.match(
            text,
            /runs: \/root\/miab-migrate\/restore\.sh apply --staging \/home\/miab-migrate-staging\/user-data {2}\(stdin: the old box's backup key and settings \(secret\)\)\n/,
        );
        assert.match(text, /guard: new box disk holds the old box's data \+ 20%: checked against newServer.size s-2vcpu-4gb\n/);
        assert.match(
            text,
            /6\. cutover: .*\n {3}run: pulumi config set -s prod phase cutover && pulumi config set -s prod --path dns\.target new && pulumi preview -s prod && pulumi up -s prod\n/,
        );
        assert.match(text, /guard: at least decommission\.afterDays \(7\) days after the cutover/);
        assert.match(text, /undo: \/root\/miab-migrate\/transfer\.sh push-back --old 203\.0\.113\.10 /);
        assert.match(text, /1\. prepare: .* <- current\n/);
        const prepare = text.slice(text.indexOf("1. prepare"), text.indexOf("2. provision"));
        assert.doesNotMatch(prepare, /new box/, "no new box yet");
        assert.match(
            prepare,
            / first: let the address .*\n {7}runs: sh -c '.* --run prepare --from "\$1"' sh "\$\{SSH_CLIENT%% \*\}" {2}\(stdin: scripts\/ssh-access\.sh\)\n/,
        );
        assert.doesNotMatch(text, /BEGIN OPENSSH/);
    });

    it("marks the phases already done and skips the key reminder when the key is set", () => {
        const text = runbook(
            "staging",
            withKey(withKey(readStackFile("staging"), "phase", "restore"), "sshPrivateKey", { secure: "v1:abc" }),
        );
        assert.match(text, /^3\. freeze: .* \(done\)$/m);
        assert.match(text, /^4\. restore: .* <- current$/m);
        assert.doesNotMatch(text, /Before anything else/);
    });

    it("shows the configuration problems instead of a plan", () => {
        const text = runbook("staging", withKey(readStackFile("staging"), "dns.ttl", 5));
        assert.equal(
            text,
            "miab-migrate: the stack configuration has 1 problem(s); nothing was changed:\n" +
                "  - dns.ttl must be between 60 and 86400 seconds (got 5)\n" +
                "Fix the configuration of stack staging first.\n",
        );
    });

    it("runs as npm run runbook, and says how to call it", () => {
        const ok = spawnSync("npm", ["run", "-s", "runbook", "--", "--stack", "staging"], { cwd: ROOT, encoding: "utf8" });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stdout, /^miab-migrate runbook for stack staging: box\.miab-staging\.example/);
        const bad = spawnSync("npm", ["run", "-s", "runbook"], { cwd: ROOT, encoding: "utf8" });
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /usage: npm run runbook -- --stack <name> {3}\(reads Pulumi\.<name>\.yaml\)/);
    });
});
