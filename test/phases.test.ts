/**
 * The migration phases under Pulumi mocks: which remote step runs on which box with which
 * command line, what undoes it, what it waits for, the guards on the old box's inventory,
 * the verification output, and what stays secret.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type MigrationConfig, parseConfig } from "../lib/config";
import { activeSteps, planSteps } from "../lib/plan";
import { PHASES } from "../lib/phases";
import { readScript } from "../lib/scripts";
import { MOCK, MOCK_HEALTH, mockInventory } from "./harness/mock-values";
import { type Evaluation, type Resource, byType, errorOf, evaluate, one, stackConfig, withKey } from "./harness/program";

const COMMAND = "command:remote:Command";
const OLD = { host: "198.51.100.20", port: 22, user: "root" };
const OLD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBexampleStagingOldBoxHostKeyReplaceMe0000";
const DKIM = String((stackConfig("staging").dns as { dkim: string }).dkim);

const at = (phase: string, extra: Record<string, unknown> = {}) => {
    let config = withKey(stackConfig("staging"), "phase", phase);
    for (const [k, v] of Object.entries(extra)) config = withKey(config, k, v);
    return config;
};

/** The remote steps (not the script uploads) of an evaluation, by name. */
function stepsOf(ev: Evaluation): Record<string, Resource> {
    return Object.fromEntries(
        byType(ev, COMMAND)
            .filter((c) => c.name.startsWith("migration-") && !c.name.includes("-scripts-"))
            .map((c) => [c.name.replace(/^migration-/, ""), c]),
    );
}

const host = (r: Resource) => {
    const c = r.inputs.connection as { host: string; port: number; user: string; hostKey: string };
    return { host: c.host, port: c.port, user: c.user };
};

describe("prepare", () => {
    const ev = evaluate(stackConfig("staging"));

    it("only reads the old box, on its address with its pinned host key", () => {
        assert.equal(ev.error, undefined);
        const s = stepsOf(ev);
        assert.deepEqual(Object.keys(s), ["old-inventory", "old-backup-files"]);
        assert.equal(s["old-inventory"].inputs.create, "/root/miab-migrate/inventory.sh");
        assert.equal(s["old-backup-files"].inputs.create, "/root/miab-migrate/backup-files.sh");
        for (const r of Object.values(s)) {
            assert.deepEqual(host(r), OLD);
            assert.equal((r.inputs.connection as { hostKey: string }).hostKey, OLD_KEY);
            assert.equal(r.inputs.delete, undefined, "reading needs no undo");
        }
        assert.deepEqual(s["old-inventory"].inputs.triggers, ["prepare"], "read again in every phase");
        assert.deepEqual(
            byType(ev, COMMAND)
                .filter((c) => c.name.includes("-scripts-"))
                .map((c) => c.name),
            [
                "migration-old-scripts-ssh-access",
                "migration-old-scripts-inventory",
                "migration-old-scripts-backup-files",
                "migration-old-scripts-freeze",
                "migration-old-scripts-transfer-access",
                "migration-old-scripts-transfer-gate",
                "migration-old-scripts-postfix-settings",
                "migration-old-scripts-relay",
                "migration-old-scripts-decommission",
                "migration-old-scripts-final-backup",
            ],
        );
    });

    it("first lets the address it connects from past Mail-in-a-Box's SSH rate limit, before any upload", () => {
        const access = one(ev, "migration-old-scripts-ssh-access");
        assert.equal(
            access.inputs.create,
            `sh -c 'umask 077 && mkdir -p /root/miab-migrate && cat > /root/miab-migrate/ssh-access.sh.tmp && chmod 0700 /root/miab-migrate/ssh-access.sh.tmp && mv -f /root/miab-migrate/ssh-access.sh.tmp /root/miab-migrate/ssh-access.sh && /root/miab-migrate/ssh-access.sh allow --label operator --port 22 --run prepare --from "$1"' sh "\${SSH_CLIENT%% *}"`,
        );
        assert.equal(access.inputs.delete, "/root/miab-migrate/ssh-access.sh remove --label operator --run prepare");
        assert.equal(access.inputs.stdin, readScript("ssh-access.sh"));
        assert.equal(access.inputs.triggers, undefined, "a new phase changes the command: run again, never replaced");
        assert.equal(
            ev.options["migration-old-scripts-ssh-access"].deleteBeforeReplace,
            true,
            "a forced replacement removes before it allows",
        );
        assert.deepEqual(host(access), OLD);
        for (const upload of byType(ev, COMMAND).filter((c) => c.name.includes("-scripts-") && c !== access)) {
            assert.deepEqual(ev.options[upload.name].dependsOn, ["migration-old-scripts-ssh-access"], upload.name);
        }
    });

    it("as a user other than root, hands the address over to sudo's shell, which would not see it", () => {
        const admin = evaluate(at("prepare", { "oldServer.sshUser": "admin", "oldServer.sshPort": 2222 }));
        assert.equal(admin.error, undefined);
        const access = one(admin, "migration-old-scripts-ssh-access");
        assert.match(
            String(access.inputs.create),
            /^sudo -n sh -c 'umask 077 && .* --label operator --port 2222 --run prepare --from "\$1"' sh "\$\{SSH_CLIENT%% \*\}"$/,
        );
        assert.equal(access.inputs.delete, "sudo -n sh -c '/root/miab-migrate/ssh-access.sh remove --label operator --run prepare'");
    });

    it("keeps the old box's backup key secret: no log, secret output", () => {
        assert.equal(stepsOf(ev)["old-backup-files"].inputs.logging, "none");
        assert.deepEqual(ev.options["migration-old-backup-files"].additionalSecretOutputs, ["stdout", "connection"]);
        assert.equal(stepsOf(ev)["old-inventory"].inputs.logging, "stdoutAndStderr");
    });

    it("exports the old box's inventory", () => {
        assert.deepEqual(ev.outputs.oldBox, {
            hostname: "box.miab-staging.example",
            miabVersion: "v68",
            ubuntu: "22.04",
            users: ["admin@box.miab-staging.example"],
            aliases: ["postmaster@box.miab-staging.example -> admin@box.miab-staging.example"],
            domains: ["box.miab-staging.example"],
            mailboxes: { "admin@box.miab-staging.example": ["INBOX: 3 (4200 bytes)", "Sent: 1 (900 bytes)"] },
            dkim: DKIM,
            diskUsedBytes: 2_000_000_000,
            backup: { target: "local", latest: "2026-11-20T03:00:00Z" },
        });
        assert.equal(ev.outputs.verification, undefined);
    });
});

describe("the old box's inventory is checked before anything is copied", () => {
    const inventory = (patch: Record<string, unknown>) => JSON.stringify({ ...mockInventory("box.miab-staging.example", DKIM), ...patch });

    it("refuses an old box with another PRIMARY_HOSTNAME", () => {
        const ev = evaluate(at("provision"), {
            commandStdout: { "migration-old-inventory": inventory({ hostname: "mail.other.example" }) },
        });
        assert.equal(
            errorOf(ev),
            "miab-migrate: the old box is not ready; nothing was copied:\n" +
                "  - the old box's PRIMARY_HOSTNAME is mail.other.example, not box.miab-staging.example: set hostname to mail.other.example " +
                "(the new box must have the same name), or check oldServer.ipv4",
        );
    });

    it("refuses a DKIM key that is not the published one, and a new box too small for the data", () => {
        const ev = evaluate(at("provision"), {
            commandStdout: { "migration-old-inventory": inventory({ dkim: "v=DKIM1; k=rsa; p=OTHER" }) },
            sizeDiskGb: 2,
        });
        assert.equal(
            errorOf(ev),
            "miab-migrate: the old box is not ready; nothing was copied:\n" +
                '  - dns.dkim differs from the old box\'s mail/dkim/mail.txt: set dns.dkim to "v=DKIM1; k=rsa; p=OTHER"\n' +
                "  - the old box holds 2.0 GB; with 20% headroom the new box needs 2.4 GB but newServer.size has 2 GB: choose a larger newServer.size",
        );
    });

    it("refuses an old box whose data is not in /home/user-data", () => {
        const ev = evaluate(at("provision"), { commandStdout: { "migration-old-inventory": inventory({ storageRoot: "/srv/mail" }) } });
        assert.equal(
            errorOf(ev),
            "miab-migrate: the old box is not ready; nothing was copied:\n" +
                "  - the old box keeps its data in /srv/mail (STORAGE_ROOT); this version of miab-migrate moves only /home/user-data",
        );
    });

    it("refuses already in prepare, where nothing would be copied yet", () => {
        const ev = evaluate(stackConfig("staging"), { sizeDiskGb: 1 });
        assert.match(ev.error ?? "", /newServer.size has 1 GB: choose a larger newServer.size/);
    });

    it("runs no other step when the check fails: only the inventory itself is registered", () => {
        const refused = evaluate(at("restore"), {
            commandStdout: { "migration-old-inventory": inventory({ hostname: "mail.other.example" }) },
        });
        assert.deepEqual(Object.keys(stepsOf(refused)), ["old-inventory"]);
        const passed = evaluate(at("restore"));
        assert.deepEqual(Object.keys(stepsOf(passed)), [
            "old-inventory",
            "old-backup-files",
            "old-transfer-access",
            "new-transfer-key",
            "new-precopy",
            "old-freeze",
            "new-final-copy",
            "new-restore",
            "new-resetup",
        ]);
    });
});

describe("provision", () => {
    const ev = evaluate(at("provision"));
    const s = stepsOf(ev);

    it("lets the transfer key in on the old box from the new box's address only, and installs it on the new box", () => {
        assert.equal(ev.error, undefined);
        assert.deepEqual(Object.keys(s), ["old-inventory", "old-backup-files", "old-transfer-access", "new-transfer-key", "new-precopy"]);
        assert.deepEqual(host(s["old-transfer-access"]), OLD);
        assert.equal(
            s["old-transfer-access"].inputs.create,
            `/root/miab-migrate/transfer-access.sh grant --from ${MOCK.dropletIpv4} --port 22`,
        );
        assert.equal(s["old-transfer-access"].inputs.delete, "/root/miab-migrate/transfer-access.sh revoke");
        assert.equal(s["old-transfer-access"].inputs.stdin, `${MOCK.hostKeyPublic}\n`, "the public half of the transfer key");
        assert.deepEqual(host(s["new-transfer-key"]), { host: MOCK.dropletIpv4, port: 22, user: "root" });
        assert.equal(
            s["new-transfer-key"].inputs.create,
            `/root/miab-migrate/transfer.sh setup --old 198.51.100.20 --port 22 --old-host-key '${OLD_KEY}'`,
        );
        assert.equal(s["new-transfer-key"].inputs.delete, "/root/miab-migrate/transfer.sh forget");
        assert.equal(s["new-transfer-key"].inputs.stdin, MOCK.hostKeyPrivate);
        assert.ok(ev.secretInputs["migration-new-transfer-key"].includes("stdin"), "the private key is a secret");
    });

    it("pre-copies the old box's data hot into the staging directory once the transfer key works", () => {
        assert.equal(
            s["new-precopy"].inputs.create,
            "/root/miab-migrate/transfer.sh pull --old 198.51.100.20 --port 22 --source-root /home/user-data --dest /home/miab-migrate-staging/user-data",
        );
        assert.deepEqual(ev.options["migration-new-precopy"].dependsOn.slice(-2), [
            "migration-old-transfer-access",
            "migration-new-transfer-key",
        ]);
    });

    it("skips the pre-copy with precopy false", () => {
        const without = evaluate(at("provision", { precopy: "false" }));
        assert.equal(without.error, undefined);
        assert.equal(stepsOf(without)["new-precopy"], undefined);
    });

    it("uploads the new box's scripts after Mail-in-a-Box is installed, once its address passes the SSH rate limit", () => {
        assert.deepEqual(ev.options["migration-new-scripts"].dependsOn, ["miab-install"]);
        const access = one(ev, "migration-new-scripts-ssh-access");
        assert.match(
            String(access.inputs.create),
            / allow --label operator --port 22 --run provision --from "\$1"' sh "\$\{SSH_CLIENT%% \*\}"$/,
        );
        assert.equal(access.inputs.delete, "/root/miab-migrate/ssh-access.sh remove --label operator --run provision");
        assert.equal((access.inputs.connection as { host: string }).host, MOCK.dropletIpv4);
        assert.deepEqual(ev.options["migration-new-scripts-health"].dependsOn, ["migration-new-scripts-ssh-access"]);
        assert.match(
            String(one(ev, "migration-old-scripts-ssh-access").inputs.create),
            / --run provision --from /,
            "renewed on the old box too",
        );
    });
});

describe("freeze, restore, verify", () => {
    it("freeze closes the old box (undo: thaw) and then makes the final copy", () => {
        const ev = evaluate(at("freeze"));
        const s = stepsOf(ev);
        assert.equal(s["old-freeze"].inputs.create, "/root/miab-migrate/freeze.sh close --ssh-port 22");
        assert.equal(s["old-freeze"].inputs.delete, "/root/miab-migrate/freeze.sh open");
        assert.deepEqual(host(s["old-freeze"]), OLD);
        assert.equal(ev.options["migration-old-freeze"].dependsOn.at(-1), "migration-new-precopy", "freeze only after the pre-copy");
        assert.equal(s["new-final-copy"].inputs.create, s["new-precopy"].inputs.create);
        assert.deepEqual(ev.options["migration-new-final-copy"].dependsOn.slice(-3), [
            "migration-old-freeze",
            "migration-old-transfer-access",
            "migration-new-transfer-key",
        ]);
    });

    it("restore moves the copy into place with the old backup key on stdin, then re-runs setup", () => {
        const ev = evaluate(at("restore"), { commandStdout: { "migration-old-backup-files": "QkFDS1VQIEZJTEVT" } });
        const s = stepsOf(ev);
        assert.equal(s["new-restore"].inputs.create, "/root/miab-migrate/restore.sh apply --staging /home/miab-migrate-staging/user-data");
        assert.equal(s["new-restore"].inputs.delete, "/root/miab-migrate/restore.sh undo --staging /home/miab-migrate-staging/user-data");
        assert.equal(s["new-restore"].inputs.stdin, "QkFDS1VQIEZJTEVT", "the old box's backup files, as backup-files.sh printed them");
        assert.ok(ev.secretInputs["migration-new-restore"].includes("stdin"));
        assert.deepEqual(ev.options["migration-new-restore"].dependsOn.slice(-2), ["migration-new-final-copy", "miab-install"]);
        assert.equal(s["new-resetup"].inputs.create, one(ev, "miab-install").inputs.create);
        assert.equal(s["new-resetup"].inputs.stdin, MOCK.password);
        assert.ok(ev.secretInputs["migration-new-resetup"].includes("stdin"));
        assert.equal(ev.options["migration-new-resetup"].dependsOn.at(-1), "migration-new-restore");
    });

    it("verify compares the two inventories and reports every check", () => {
        const ev = evaluate(at("verify"));
        assert.equal(ev.error, undefined);
        assert.deepEqual(host(stepsOf(ev)["new-inventory"]), { host: MOCK.dropletIpv4, port: 22, user: "root" });
        assert.deepEqual(ev.outputs.verification, {
            ok: true,
            failed: 0,
            checks: [
                { name: "users", ok: true, detail: "1 on both" },
                { name: "aliases", ok: true, detail: "1 on both" },
                { name: "domains", ok: true, detail: "1 on both" },
                { name: "dkim", ok: true, detail: "same key" },
                { name: "mailbox admin@box.miab-staging.example INBOX", ok: true, detail: "3 messages on both" },
                { name: "mailbox admin@box.miab-staging.example Sent", ok: true, detail: "1 messages on both" },
                { name: "service postfix", ok: true, detail: "active" },
                { name: "service dovecot", ok: true, detail: "active" },
                { name: "service nginx", ok: true, detail: "active" },
                { name: "tls imaps", ok: true, detail: "TLSv1.3" },
                { name: "tls submission", ok: true, detail: "TLSv1.3" },
            ],
            statusChecks: ["error: This domain's DNS MX record is not set. It should be box.miab-staging.example."],
        });
        assert.equal(stepsOf(ev)["new-health"].inputs.create, "/root/miab-migrate/health.sh");
    });

    it("verify fails when the new box does not serve: a stopped service, no TLS on submission", () => {
        const health = {
            ...MOCK_HEALTH,
            services: { ...MOCK_HEALTH.services, nginx: "inactive" },
            tls: { ...MOCK_HEALTH.tls, submission: { ok: false, detail: "connect:errno=111" } },
            statusChecks: null,
            statusError: "curl: (7) Failed to connect to 127.0.0.1 port 10222",
        };
        const ev = evaluate(at("verify"), { commandStdout: { "migration-new-health": JSON.stringify(health) } });
        const v = ev.outputs.verification as {
            ok: boolean;
            failed: number;
            checks: { name: string; ok: boolean }[];
            statusChecks: string[];
        };
        assert.equal(v.ok, false);
        assert.deepEqual(
            v.checks.filter((c) => !c.ok),
            [
                { name: "service nginx", ok: false, detail: "inactive" },
                { name: "tls submission", ok: false, detail: "connect:errno=111" },
            ],
        );
        assert.deepEqual(v.statusChecks, ["not available: curl: (7) Failed to connect to 127.0.0.1 port 10222"]);
    });

    it("verify names what differs", () => {
        const inv = mockInventory("box.miab-staging.example", DKIM);
        const newInv = {
            ...inv,
            users: [],
            mailboxes: [
                {
                    user: inv.mailboxes[0].user,
                    folders: [
                        { ...inv.mailboxes[0].folders[0], messages: 2 },
                        { ...inv.mailboxes[0].folders[1], digest: "x" },
                    ],
                },
            ],
        };
        const ev = evaluate(at("verify"), { commandStdout: { "migration-new-inventory": JSON.stringify(newInv) } });
        const v = ev.outputs.verification as { ok: boolean; failed: number; checks: { name: string; ok: boolean; detail: string }[] };
        assert.equal(v.ok, false);
        assert.equal(v.failed, 3);
        assert.deepEqual(
            v.checks.filter((c) => !c.ok),
            [
                { name: "users", ok: false, detail: "missing on new: admin@box.miab-staging.example [admin]" },
                { name: "mailbox admin@box.miab-staging.example INBOX", ok: false, detail: "3 messages on old, 2 on new" },
                { name: "mailbox admin@box.miab-staging.example Sent", ok: false, detail: "1 messages on both, but not the same ones" },
            ],
        );
    });
});

describe("transfer: backup", () => {
    it("takes Mail-in-a-Box's own backup on the frozen old box, copies the encrypted backups, restores them with duplicity", () => {
        const ev = evaluate(at("restore", { transfer: "backup" }));
        assert.equal(ev.error, undefined);
        const s = stepsOf(ev);
        const pull =
            "/root/miab-migrate/transfer.sh pull-backups --old 198.51.100.20 --port 22 --source-root /home/user-data --dest /home/miab-migrate-staging/encrypted";
        assert.equal(s["new-precopy"].inputs.create, pull);
        assert.equal(s["old-final-backup"].inputs.create, "/root/miab-migrate/final-backup.sh");
        assert.deepEqual(host(s["old-final-backup"]), OLD);
        assert.equal(ev.options["migration-old-final-backup"].dependsOn.at(-1), "migration-old-freeze");
        assert.equal(s["new-final-copy"].inputs.create, pull);
        assert.ok(ev.options["migration-new-final-copy"].dependsOn.includes("migration-old-final-backup"));
        assert.equal(
            s["new-restore"].inputs.create,
            "/root/miab-migrate/restore.sh apply --staging /home/miab-migrate-staging/user-data --from-backup /home/miab-migrate-staging/encrypted",
        );
        assert.equal(s["new-restore"].inputs.delete, "/root/miab-migrate/restore.sh undo --staging /home/miab-migrate-staging/user-data");
    });

    it("is refused when the old box backs up elsewhere than on itself", () => {
        const inv = {
            ...mockInventory("box.miab-staging.example", DKIM),
            backup: { target: "s3://s3.eu-central-1.amazonaws.com/bucket/box", latest: null },
        };
        const ev = evaluate(at("provision", { transfer: "backup" }), { commandStdout: { "migration-old-inventory": JSON.stringify(inv) } });
        assert.equal(
            errorOf(ev),
            "miab-migrate: the old box is not ready; nothing was copied:\n" +
                "  - transfer backup needs the old box's backups on the box itself (target local); its target is " +
                "s3://s3.eu-central-1.amazonaws.com/bucket/box: use transfer rsync, or set the backup target to local in its control panel",
        );
    });
});

describe("moving between phases", () => {
    const config = (phase: string): MigrationConfig => parseConfig({ ...at(phase), hasSshPrivateKey: true });

    it("each phase adds its steps and drops those whose time is over; every step that changes a box has an undo", () => {
        let before: string[] = [];
        const changes: Record<string, { added: string[]; removed: string[] }> = {};
        for (const phase of PHASES) {
            const now = activeSteps(planSteps(config(phase)), phase).map((s) => s.name);
            changes[phase] = { added: now.filter((n) => !before.includes(n)), removed: before.filter((n) => !now.includes(n)) };
            before = now;
        }
        assert.deepEqual(changes, {
            prepare: { added: ["old-inventory", "old-backup-files"], removed: [] },
            provision: { added: ["old-transfer-access", "new-transfer-key", "new-precopy"], removed: [] },
            freeze: { added: ["old-freeze", "new-final-copy"], removed: [] },
            restore: { added: ["new-restore", "new-resetup"], removed: [] },
            verify: { added: ["new-inventory", "new-health"], removed: [] },
            cutover: { added: ["new-soft-bounce", "new-trust-old", "new-takeover", "old-relay"], removed: [] },
            monitor: { added: ["new-monitor"], removed: ["new-soft-bounce"] },
            decommission: {
                added: ["new-stragglers", "old-retire"],
                removed: ["old-transfer-access", "new-transfer-key", "new-trust-old", "old-relay"],
            },
        });
        const undo = Object.fromEntries(planSteps(config("decommission")).map((s) => [s.name, s.delete ?? null]));
        assert.deepEqual(undo, {
            "old-inventory": null,
            "old-backup-files": null,
            "old-transfer-access": "/root/miab-migrate/transfer-access.sh revoke",
            "new-transfer-key": "/root/miab-migrate/transfer.sh forget",
            "new-precopy": null,
            "old-freeze": "/root/miab-migrate/freeze.sh open",
            "new-final-copy": null,
            "new-restore": "/root/miab-migrate/restore.sh undo --staging /home/miab-migrate-staging/user-data",
            "new-resetup": null,
            "new-inventory": null,
            "new-health": null,
            "new-soft-bounce": "/root/miab-migrate/postfix-settings.sh restore soft-bounce",
            "new-trust-old": "/root/miab-migrate/postfix-settings.sh restore trust-old",
            "new-takeover":
                "/root/miab-migrate/transfer.sh push-back --old 198.51.100.20 --port 22 --source-root /home/user-data --storage-root /home/user-data",
            "old-relay": "/root/miab-migrate/relay.sh off",
            "new-monitor": null,
            "new-stragglers": null,
            "old-retire": "/root/miab-migrate/decommission.sh start",
        });
    });

    it("undoes in reverse: relay off and the copy-back before the restore is undone, the restore before the old box thaws", () => {
        const ev = evaluate(at("cutover", { "dns.target": "new" }));
        assert.equal(ev.error, undefined);
        // Pulumi deletes a resource only after everything that depends on it.
        const deps = (n: string) => ev.options[`migration-${n}`].dependsOn;
        assert.ok(deps("old-relay").includes("migration-new-takeover"));
        assert.ok(deps("new-takeover").includes("migration-new-transfer-key"));
        assert.ok(deps("new-soft-bounce").includes("migration-new-inventory"));
        assert.ok(deps("new-inventory").includes("migration-new-resetup"));
        assert.ok(deps("new-resetup").includes("migration-new-restore"));
        assert.ok(deps("new-restore").includes("migration-new-final-copy"));
        assert.ok(deps("new-final-copy").includes("migration-old-freeze"));
    });
});

describe("cutover", () => {
    const hourAgo = new Date(Date.now() - 3600_000);
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
    const cut = (extra: Record<string, unknown> = {}) => at("cutover", { "dns.target": "new", ...extra });

    it("points DNS at the new box, soft-bounces there, trusts the old box, and turns the old box into a relay", () => {
        const ev = evaluate(cut());
        assert.equal(ev.error, undefined);
        const s = stepsOf(ev);
        assert.equal(one(ev, "dns-A-box.miab-staging.example").inputs.content, MOCK.dropletIpv4);
        assert.equal(one(ev, "dns-AAAA-box.miab-staging.example").inputs.content, MOCK.dropletIpv6);
        assert.equal(s["new-soft-bounce"].inputs.create, "/root/miab-migrate/postfix-settings.sh apply soft-bounce soft_bounce=yes");
        assert.equal(
            s["new-trust-old"].inputs.create,
            "/root/miab-migrate/postfix-settings.sh apply trust-old mynetworks+=198.51.100.20/32",
        );
        assert.equal(s["new-takeover"].inputs.create, "date -u +%Y-%m-%dT%H:%M:%SZ");
        assert.deepEqual(host(s["old-relay"]), OLD);
        assert.equal(s["old-relay"].inputs.create, `/root/miab-migrate/relay.sh on --to ${MOCK.dropletIpv4}`);
        assert.equal(ev.outputs.cutoverCheck, "passed: TTL wait over, verification ok");
        assert.equal(ev.outputs.cutoverAt, "2026-01-01T00:00:00Z");
    });

    it("does not re-read the inventories after verify: what the cutover checks is what verify saw", () => {
        const ev = evaluate(cut());
        assert.deepEqual(stepsOf(ev)["old-inventory"].inputs.triggers, ["verify"]);
        assert.deepEqual(stepsOf(ev)["new-inventory"].inputs.triggers, ["verify"]);
    });

    it("is refused until the old TTL has passed since dns.ttl was lowered, saying when it becomes safe", () => {
        const ev = evaluate(cut(), { commandStdout: { "migration-ttl-changed": `${iso(hourAgo)}\n` } });
        const safe = new Date(hourAgo.getTime() + 86400_000);
        assert.equal(
            errorOf(ev),
            "miab-migrate: the cutover is refused; nothing was changed:\n" +
                `  - dns.ttl was changed at ${iso(hourAgo)}; resolvers may hold the old records (dns.previousTtl 86400 s) until ${iso(safe)}: run the cutover after that`,
        );
        const shorter = evaluate(cut({ "dns.previousTtl": 1800 }), { commandStdout: { "migration-ttl-changed": `${iso(hourAgo)}\n` } });
        assert.equal(shorter.error, undefined, "an old TTL of 30 minutes has passed after an hour");
    });

    it("is refused while verify has failed checks, unless a reason is given", () => {
        const inv = mockInventory("box.miab-staging.example", DKIM);
        const newInv = JSON.stringify({ ...inv, aliases: [] });
        const refused = evaluate(cut(), { commandStdout: { "migration-new-inventory": newInv } });
        assert.equal(
            errorOf(refused),
            "miab-migrate: the cutover is refused; nothing was changed:\n" +
                "  - verify found 1 failed check(s): aliases: missing on new: postmaster@box.miab-staging.example -> admin@box.miab-staging.example. " +
                "Fix them and run verify again, or set cutover.acceptFailedChecks to the reason they are acceptable",
        );
        const accepted = evaluate(cut({ "cutover.acceptFailedChecks": "the alias is recreated by hand after the cutover" }), {
            commandStdout: { "migration-new-inventory": newInv },
        });
        assert.equal(accepted.error, undefined);
        assert.equal(
            accepted.outputs.cutoverCheck,
            "passed: TTL wait over; 1 failed check(s) accepted: the alias is recreated by hand after the cutover",
        );
    });

    it("is refused while the new box does not serve, like any failed verify check", () => {
        const health = { ...MOCK_HEALTH, services: { ...MOCK_HEALTH.services, dovecot: "failed" } };
        const ev = evaluate(cut(), { commandStdout: { "migration-new-health": JSON.stringify(health) } });
        assert.match(
            errorOf(ev) ?? "",
            /^miab-migrate: the cutover is refused; nothing was changed:\n {2}- verify found 1 failed check\(s\): service dovecot: failed\./,
        );
    });

    it("records when dns.ttl changes, re-recorded on every change", () => {
        const ev = evaluate(cut());
        const ttl = one(ev, "migration-ttl-changed");
        assert.equal(ttl.type, "command:local:Command");
        assert.deepEqual(ttl.inputs, { create: "date -u +%Y-%m-%dT%H:%M:%SZ", triggers: [300] });
    });
});

describe("monitor and decommission", () => {
    it("monitor turns soft_bounce off (the step's undo), runs the monitor script on the new box and exports its report", () => {
        const report = { certificate: { issuer: "CN = R11", notAfter: "Feb 21 00:00:00 2027 GMT" }, backup: { verified: true }, queue: 0 };
        const ev = evaluate(at("monitor", { "dns.target": "new" }), { commandStdout: { "migration-new-monitor": JSON.stringify(report) } });
        assert.equal(ev.error, undefined);
        const s = stepsOf(ev);
        assert.equal(s["new-soft-bounce"], undefined);
        assert.equal(s["new-monitor"].inputs.create, `/root/miab-migrate/monitor.sh --ipv4 ${MOCK.dropletIpv4}`);
        assert.deepEqual(ev.outputs.monitorReport, report);
        assert.equal(ev.outputs.cutoverCheck, "not checked in phase monitor");
    });

    it("decommission moves the stragglers, then retires the old box's services, archiving with decommission.archive", () => {
        const ev = evaluate(at("decommission", { "dns.target": "new", "decommission.archive": true }));
        assert.equal(ev.error, undefined);
        const s = stepsOf(ev);
        assert.equal(
            s["new-stragglers"].inputs.create,
            "/root/miab-migrate/transfer.sh stragglers --old 198.51.100.20 --port 22 --source-root /home/user-data --storage-root /home/user-data",
        );
        assert.equal(s["old-retire"].inputs.create, "/root/miab-migrate/decommission.sh stop --archive /root/miab-migrate-archive.tar.gz");
        assert.equal(s["old-retire"].inputs.delete, "/root/miab-migrate/decommission.sh start");
        assert.ok(ev.options["migration-old-retire"].dependsOn.includes("migration-new-stragglers"));
        assert.equal(s["old-relay"], undefined, "the relay is removed (relay.sh off) at the end of the update");
        assert.equal(s["old-transfer-access"], undefined, "the transfer key is revoked");
    });

    it("decommission is refused before decommission.afterDays have passed since the cutover", () => {
        const twoDaysAgo = new Date(Date.now() - 2 * 86400_000);
        const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
        const ev = evaluate(at("decommission", { "dns.target": "new" }), {
            commandStdout: { "migration-new-takeover": `${iso(twoDaysAgo)}\n` },
        });
        const allowed = new Date(twoDaysAgo.getTime() + 7 * 86400_000);
        assert.match(
            errorOf(ev) ?? "",
            new RegExp(
                `^miab-migrate: the decommission is refused; nothing was changed:\n  - the cutover was at ${iso(twoDaysAgo)}; decommission.afterDays is 7, ` +
                    `so the old box is retired from ${iso(allowed)} on: mail from resolvers that ignore the TTL may still reach it until then$`,
            ),
        );
    });
});
