/**
 * `npm run rehearse -- [--corpus DIR | --messages N] [--report FILE]`: a whole migration
 * rehearsed on two test hosts ("old" and "new", test/hosts/testhost.sh), with the
 * program's own step plan (lib/plan.ts): every phase's scripts run over real SSH with the
 * command lines and stdin the program gives them, forward and back, while mail is sent
 * over SMTP. At the end every seeded and injected message must be where its user reads it
 * exactly once, and no sender may have met a permanent rejection. Writes a JSON report;
 * exits 1 on any loss, 2 on a bad command line.
 *
 * Stood in (the report lists them): Mail-in-a-Box's setup (install-miab.sh needs Ubuntu
 * and the internet; the re-run after the restore becomes a restart of Postfix and
 * Dovecot), management/backup.py and ssl_certificates.py (test/fixtures: the real
 * duplicity with backup.py's flags; no certificates), the new box's health (no nginx or
 * TLS on test hosts), DNS (the "switch" is which address the senders use), and the
 * program's time guards (tested under mocks).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { type MigrationConfig, parseConfig } from "../../lib/config";
import { compareInventories, parseInventory } from "../../lib/inventory";
import { type Phase, atLeast } from "../../lib/phases";
import { type PlannedStep, activeSteps, planSteps, readTrigger } from "../../lib/plan";
import { readScript } from "../../lib/scripts";
import { sshAccessCommand, steps } from "../../lib/steps";
import { type Box, Lab } from "../harness/hosts";
import { smtpSend } from "../harness/mail";
import { answers, connectForTransfer, deferredFor, installStandIns, seed, waitUntil } from "../harness/migration";
import { CommandLine } from "./args";
import { type Corpus, generateCorpus, readCorpusDir } from "./corpus";

const SR = "/home/user-data";
const HOSTNAME = "box.example.test";

export interface Scenario {
    readonly name: string;
    readonly ok: boolean;
    readonly detail: string;
}

export interface Report {
    ok: boolean;
    messagesExpected: number;
    messagesFound: number;
    missing: string[];
    duplicated: string[];
    permanentRejections: number;
    freezeSeconds: number;
    scenarios: Scenario[];
    standIns: string[];
}

export interface Expected {
    readonly user: string;
    readonly messageId: string;
    /** SHA-256 of the whole file (seeded) or of the body (sent over SMTP: Postfix adds headers). */
    readonly sha256: string;
    readonly part: "file" | "body";
}

export const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
/** A message's body, line ends and trailing empty lines aside (SMTP's end of data adds one). */
const body = (b: Buffer) => {
    const text = b.toString("latin1").replace(/\r\n/g, "\n");
    const i = text.indexOf("\n\n");
    return i < 0 ? "" : text.slice(i + 2).replace(/\n+$/, "");
};

export interface Accounting {
    readonly missing: string[];
    readonly duplicated: string[];
    readonly found: number;
}

/**
 * Each expected message must be in its user's mailbox with its content (whole file for
 * seeded ones, body for those sent over SMTP) and in one copy only.
 */
export function accountMessages(expected: readonly Expected[], found: ReadonlyMap<string, { user: string; file: Buffer }[]>): Accounting {
    const missing: string[] = [];
    const duplicated: string[] = [];
    let count = 0;
    for (const e of expected) {
        const copies = (found.get(e.messageId) ?? []).filter((c) => c.user === e.user);
        const matching = copies.filter((c) => (e.part === "file" ? sha(c.file) : sha(body(c.file))) === e.sha256);
        if (matching.length === 0) missing.push(`${e.user} ${e.messageId}`);
        else count++;
        if (copies.length > 1) duplicated.push(`${e.user} ${e.messageId} (${copies.length} copies)`);
    }
    return { missing, duplicated, found: count };
}

/** Work done while a step runs; `running` says whether it still does. */
type Alongside = (running: () => boolean) => Promise<void>;

export class Rehearsal {
    readonly lab = new Lab();
    readonly report: Report = {
        ok: false,
        messagesExpected: 0,
        messagesFound: 0,
        missing: [],
        duplicated: [],
        permanentRejections: 0,
        freezeSeconds: 0,
        scenarios: [],
        standIns: [
            "Mail-in-a-Box setup (install-miab.sh): not run; its re-run after the restore is a restart of Postfix and Dovecot",
            "management/backup.py: test/fixtures/miab-backup.sh, the real duplicity with backup.py's flags, local target",
            "management/ssl_certificates.py: test/fixtures/miab-ssl-certificates.sh, provisions nothing",
            "health.sh: run, but its service/TLS checks are left out of verify (no nginx or TLS on test hosts)",
            "DNS: the cutover is the senders switching from the old to the new address",
            "time guards (TTL wait, decommission wait): not waited for here; tested under Pulumi mocks",
        ],
    };
    private old!: Box;
    private neu!: Box;
    private corpus!: Corpus;
    private config!: MigrationConfig;
    private plan!: PlannedStep[];
    private readonly applied: string[] = [];
    /** The trigger each everyPhase step last ran with: Pulumi replaces it when that changes. */
    private readonly triggers: Record<string, Phase> = {};
    private readonly outputs: Record<string, string> = {};
    private readonly expected: Expected[] = [];
    private transferKey = "";
    private sent = 0;
    private twice = 0;

    constructor(private readonly opts: { corpusDir?: string; messagesPerUser: number; log: (line: string) => void }) {}

    private log(line: string) {
        this.opts.log(`rehearse: ${line}`);
    }

    scenario(name: string, ok: boolean, detail: string) {
        this.report.scenarios.push({ name, ok, detail });
        this.log(`${ok ? "ok  " : "FAIL"} ${name}: ${detail}`);
    }

    setUp() {
        this.old = this.lab.up({ name: "rold", address: "198.18.0.60", hostname: HOSTNAME });
        this.neu = this.lab.up({ name: "rnew", address: "198.18.0.61", hostname: HOSTNAME });
        this.corpus = this.opts.corpusDir
            ? readCorpusDir(this.opts.corpusDir)
            : generateCorpus({
                  seed: 11,
                  domains: ["example.test", "example.org"],
                  usersPerDomain: 2,
                  messagesPerUser: this.opts.messagesPerUser,
                  largeMessageBytes: 20 << 20,
              });
        seed(this.old, this.corpus);
        for (const m of this.corpus.messages) {
            this.expected.push({ user: m.user, messageId: m.messageId, sha256: m.sha256, part: "file" });
        }
        for (const box of [this.old, this.neu]) installStandIns(box);
        this.transferKey = connectForTransfer(this.old, this.neu).key;
        const domains = [...new Set(this.corpus.users.map((u) => u.email.split("@")[1]))];
        this.config = parseConfig({
            hostname: HOSTNAME,
            domains: domains.includes("example.test") ? domains : [...domains, "example.test"],
            phase: "prepare",
            dns: { ttl: 300, target: "old", dkim: this.dkim() },
            oldServer: { ipv4: this.old.address, hostKey: this.old.hostKey() },
            newServer: { region: "fra1", size: "s-1vcpu-2gb", sshKeys: ["1"] },
            hasSshPrivateKey: true,
        });
        this.plan = planSteps(this.config);
        this.log(`hosts up; ${this.corpus.users.length} users, ${this.corpus.messages.length} messages seeded on the old box`);
    }

    private dkim(): string {
        const txt = readFileSync(this.lab.file("rold", "home", "user-data", "mail", "dkim", "mail.txt"), "utf8");
        return [...txt.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
    }

    private box(step: PlannedStep): Box {
        return step.box === "old" ? this.old : this.neu;
    }

    private stdin(step: PlannedStep): string {
        switch (step.stdin) {
            case "transferPublicKey":
                return readFileSync(`${this.transferKey}.pub`, "utf8");
            case "transferPrivateKey":
                return readFileSync(this.transferKey, "utf8");
            case "backupFiles":
                return this.outputs["old-backup-files"];
            default:
                return "";
        }
    }

    /**
     * Runs a step's create as the program does; twice, as the idempotence check. `alongside`
     * runs while the first run is in flight and is told whether it still is.
     */
    private async create(step: PlannedStep, alongside?: Alongside) {
        if (step.name === "new-resetup") {
            this.neu.step("systemctl restart postfix dovecot");
            return;
        }
        // The test hosts have no IPv6 address; only the install step, stood in here, uses it.
        const cmd = step.create({ newIpv4: this.neu.address, newIpv6: "::1" });
        let running = true;
        const run = this.box(step).sshAsync(cmd, this.stdin(step));
        const [first] = await Promise.all([run.done.finally(() => (running = false)), alongside?.(() => running)]);
        if (first.status !== 0)
            throw new Error(`${step.name} on ${this.box(step).spec.name} exited ${first.status}:\n${first.stdout}\n${first.stderr}`);
        this.outputs[step.name] = first.stdout;
        const second = this.box(step).ssh(cmd, this.stdin(step));
        if (second.status !== 0) throw new Error(`${step.name} failed when run a second time: ${second.stderr}`);
        this.twice++;
    }

    private destroy(step: PlannedStep) {
        if (step.delete) this.box(step).step(step.delete);
    }

    /**
     * Moves to `phase` the way `pulumi up` does: the SSH access on each box first, then new
     * steps in plan order, then the leaving ones undone, latest first. `before` runs right
     * before a step, `alongside` while it runs.
     */
    async goTo(phase: Phase, hooks: { before?: Record<string, () => Promise<void>>; alongside?: Record<string, Alongside> } = {}) {
        // First on each box, as components/remoteScripts.ts does: pass its SSH rate limit.
        for (const box of atLeast(phase, "provision") ? [this.old, this.neu] : [this.old]) {
            box.step(sshAccessCommand("root", 22, phase), readScript("ssh-access.sh"));
        }
        const target = activeSteps(this.plan, phase).map((s) => s.name);
        for (const step of this.plan) {
            if (!target.includes(step.name)) continue;
            const stale = step.everyPhase && this.triggers[step.name] !== readTrigger(phase);
            if (!this.applied.includes(step.name) || stale) {
                await hooks.before?.[step.name]?.();
                await this.create(step, hooks.alongside?.[step.name]);
                if (!this.applied.includes(step.name)) this.applied.push(step.name);
                if (step.everyPhase) this.triggers[step.name] = readTrigger(phase);
            }
        }
        for (const name of [...this.applied].reverse()) {
            if (!target.includes(name)) {
                this.destroy(this.plan.find((s) => s.name === name) as PlannedStep);
                this.applied.splice(this.applied.indexOf(name), 1);
            }
        }
        this.log(`phase ${phase}: ${this.applied.length} steps in place`);
    }

    /** The Message-ID of the message send() sent last. */
    private lastMessageId(): string {
        return `<rehearsal-${this.sent}@sender.test>`;
    }

    /** Sends one message to `user` at `address`; counts any 5xx; expects it unless refused. */
    async send(address: string, user: string, label: string): Promise<number | "closed"> {
        this.sent++;
        const messageId = this.lastMessageId();
        const text = `From: <sender@sender.test>\nTo: <${user}>\nSubject: ${label}\nMessage-ID: ${messageId}\n\n${label} (${this.sent})\n`;
        if (!(await answers(address, 25))) return "closed";
        const r = await smtpSend(address, "sender@sender.test", [user], text);
        const code = r.data ?? r.recipients[user];
        if (code >= 500) this.report.permanentRejections++;
        if (code === 250) this.expected.push({ user, messageId, sha256: sha(`${label} (${this.sent})`), part: "body" });
        return code;
    }

    private users() {
        return this.corpus.users.map((u) => u.email);
    }

    /** Every message file of every user on `box`, by Message-ID. */
    private found(name: string): Map<string, { user: string; file: Buffer }[]> {
        const out = new Map<string, { user: string; file: Buffer }[]>();
        const root = this.lab.file(name, "home", "user-data", "mail", "mailboxes");
        const walk = (dir: string, user: string) => {
            for (const e of readdirSync(dir, { withFileTypes: true })) {
                const p = path.join(dir, e.name);
                if (e.isDirectory()) walk(p, user);
                else if (/\/(cur|new)$/.test(dir)) {
                    const file = readFileSync(p);
                    const head = file.toString("latin1").split(/\r?\n\r?\n/)[0];
                    const id = /^Message-ID:\s*(.+?)\s*$/im.exec(head)?.[1] ?? `<${e.name.replace(/:2,.*$/, "")}@corpus>`;
                    out.set(id, [...(out.get(id) ?? []), { user, file }]);
                }
            }
        };
        for (const u of this.users()) {
            const [local, domain] = u.split("@");
            const home = path.join(root, domain, local);
            try {
                walk(home, u);
            } catch {
                // a user without a Maildir yet has no messages
            }
        }
        return out;
    }

    /** Every expected message exactly once on host `name`, with its content. */
    account(name: string): Accounting {
        return accountMessages(this.expected, this.found(name));
    }

    private async waitDelivered(name: string) {
        await waitUntil(() => this.account(name).missing.length === 0, 100);
    }

    async run(): Promise<Report> {
        this.setUp();
        const [u1, u2] = this.users();
        await this.goTo("prepare");
        this.scenario(
            "prepare reads the old box",
            parseInventory(this.outputs["old-inventory"], "old box").users.length === this.corpus.users.length,
            "inventory lists every user",
        );

        // provision: mail keeps arriving on the old box while the pre-copy runs.
        await this.goTo("provision", {
            alongside: {
                "new-precopy": async (running) => {
                    const codes: (number | "closed")[] = [];
                    let whileRunning = 0;
                    for (let i = 0; i < 3; i++) {
                        codes.push(await this.send(this.old.address, u1, "during the pre-copy"));
                        if (running()) whileRunning++;
                    }
                    this.scenario(
                        "mail keeps arriving on the old box during the pre-copy",
                        codes.every((c) => c === 250) && whileRunning > 0,
                        `SMTP to the old box: ${codes.join(", ")}; ${whileRunning} of them accepted while the pre-copy ran`,
                    );
                },
            },
        });
        for (let i = 0; i < 3; i++) await this.send(this.old.address, u2, "after the pre-copy");
        await this.waitDelivered("rold");

        // freeze: senders meet a closed port; the final copy is interrupted once and re-run.
        const freezeStart = Date.now();
        await this.goTo("freeze", {
            before: {
                "new-final-copy": async () => {
                    const during = await this.send(this.old.address, u1, "during the freeze");
                    this.scenario(
                        "senders during the freeze meet a closed port or a 4xx",
                        during === "closed" || (typeof during === "number" && during < 500),
                        `got ${during}`,
                    );
                    const run = this.neu.sshAsync(steps.pull({ ipv4: this.old.address, sshPort: 22, hostKey: this.old.hostKey() }, SR));
                    setTimeout(() => run.child.kill("SIGKILL"), 150);
                    const r = await run.done;
                    this.scenario(
                        "the final copy killed half-way",
                        r.status !== 0,
                        `the interrupted run exited ${r.status}; the step re-runs it next`,
                    );
                },
            },
        });
        await this.goTo("restore");

        // Rollback from restore: the old box serves again, nothing lost; then forward again.
        await this.goTo("provision");
        const back = await this.send(this.old.address, u2, "after the rollback from restore");
        await this.waitDelivered("rold");
        this.scenario("rollback from restore: the old box takes mail again", back === 250, `SMTP to the old box: ${back}`);

        // freeze.sh stops Dovecot while SMTP still takes mail: what arrives then waits in
        // Postfix's queue through the freeze, and must reach the new box at the cutover.
        this.old.exec("systemctl", "stop", "dovecot");
        const held = { code: await this.send(this.old.address, u1, "queued on the old box as the freeze began"), id: this.lastMessageId() };
        const heldQueued = await waitUntil(() => deferredFor(this.old, u1));
        this.old.exec("systemctl", "start", "dovecot");
        await this.goTo("freeze");
        this.scenario(
            "wrong backup key",
            this.wrongKey(),
            "restore.sh from the old box's own backups, given another key: exit 5, nothing changed on either box",
        );
        await this.goTo("restore");
        await this.goTo("verify");
        const v = compareInventories(
            parseInventory(this.outputs["old-inventory"], "old box"),
            parseInventory(this.outputs["new-inventory"], "new box"),
        );
        this.scenario(
            "verify: old and new hold the same users, aliases, DKIM key and messages",
            v.ok,
            `${v.checks.length} checks, ${v.failed} failed`,
        );

        // cutover: stale senders reach the old address and are relayed; new mail lands on new.
        await this.goTo("cutover");
        const stale = await this.send(this.old.address, u1, "to the old address after the cutover");
        const fresh = await this.send(this.neu.address, u2, "to the new address after the cutover");
        this.report.freezeSeconds = Math.round((Date.now() - freezeStart) / 100) / 10;
        await this.waitDelivered("rnew");
        this.scenario(
            "cutover: mail to the old address is relayed, mail to the new one delivered",
            stale === 250 && fresh === 250,
            `old ${stale}, new ${fresh}`,
        );
        const heldOnNew = this.found("rnew").get(held.id)?.length ?? 0;
        this.scenario(
            "mail queued on the old box as the freeze began is relayed to the new box at the cutover",
            held.code === 250 && heldQueued && heldOnNew === 1,
            `SMTP ${held.code}, in the old box's queue through the freeze: ${heldQueued}, on the new box: ${heldOnNew}`,
        );

        // Rollback from cutover after new mail arrived on new: the old box ends with every message.
        await this.send(this.neu.address, u1, "on the new box before the rollback from cutover");
        await this.waitDelivered("rnew");
        await this.goTo("provision");
        const onOld = this.account("rold");
        this.scenario(
            "rollback from cutover: the old box has every message",
            onOld.missing.length === 0 && onOld.duplicated.length === 0,
            `missing ${onOld.missing.length}, duplicated ${onOld.duplicated.length}`,
        );
        await this.goTo("freeze");
        await this.goTo("restore");
        await this.goTo("verify");
        await this.goTo("cutover");
        await this.goTo("monitor");
        const monitor = JSON.parse(this.outputs["new-monitor"]) as { backup: { verified: boolean } };
        this.scenario("monitor: a verified backup on the new box with the old key", monitor.backup.verified, JSON.stringify(monitor));

        // A straggler that reached only the old box (e.g. local mail held during the freeze).
        const [local, domain] = u2.split("@");
        const id = "<straggler-1@old.test>";
        const straggler = `${SR}/mail/mailboxes/${domain}/${local}/new/1800000009.M9P9.old,S=40`;
        this.old.exec("bash", "-c", `printf 'Message-ID: ${id}\\n\\nstraggler\\n' > ${straggler} && chown mail:mail ${straggler}`);
        this.expected.push({ user: u2, messageId: id, sha256: sha("straggler"), part: "body" });
        await this.goTo("decommission");

        this.scenario("every step run twice", true, `${this.twice} steps ran a second time right after the first, without error`);
        const end = this.account("rnew");
        Object.assign(this.report, {
            messagesExpected: this.expected.length,
            messagesFound: end.found,
            missing: end.missing,
            duplicated: end.duplicated,
        });
        this.report.ok =
            end.missing.length === 0 &&
            end.duplicated.length === 0 &&
            this.report.permanentRejections === 0 &&
            this.report.scenarios.every((s) => s.ok);
        return this.report;
    }

    /**
     * transfer: backup's restore given a wrong key, on the frozen old box's real backups.
     * The rsync copy is set aside for it (the restore would use it instead of the backups)
     * and put back after; nothing else may change on either box.
     */
    private wrongKey(): boolean {
        const tree = (box: Box) =>
            box
                .exec("bash", "-c", `find ${SR} -printf '%p %s %T@\\n' | sort`)
                .split("\n")
                .filter((l) => !l.startsWith(`${SR}/backup`))
                .join("\n");
        const oldBefore = tree(this.old);
        this.old.step(steps.finalBackup());
        this.neu.step(steps.pullBackups({ ipv4: this.old.address, sshPort: 22, hostKey: this.old.hostKey() }, SR));
        const staging = "/home/miab-migrate-staging/user-data";
        this.neu.exec("mv", staging, `${staging}.aside`);
        const newBefore = tree(this.neu);
        const wrong = spawnSync(
            "bash",
            ["-c", "d=$(mktemp -d) && echo wrong-key > $d/secret_key.txt && tar -C $d -cf - secret_key.txt | base64 -w0"],
            {
                encoding: "utf8",
            },
        ).stdout;
        const r = this.neu.ssh(steps.restoreFromBackup(), wrong);
        const newAfter = tree(this.neu);
        this.neu.exec("mv", `${staging}.aside`, staging);
        return r.status === 5 && /cannot be decrypted/.test(r.stderr) && newAfter === newBefore && tree(this.old) === oldBefore;
    }
}

export interface RehearseOptions {
    readonly corpusDir?: string;
    readonly messagesPerUser: number;
    readonly report?: string;
}

const USAGE = "usage: npm run rehearse -- [--corpus DIR | --messages N] [--report FILE]";

/** The command line, or an Error whose message says what is wrong and the usage. */
export function parseRehearseArgs(argv: string[]): RehearseOptions {
    const line = new CommandLine(argv, ["corpus", "messages", "report"], USAGE);
    if (line.string("messages") !== undefined && line.string("corpus") !== undefined) {
        throw line.error("--messages sizes the generated corpus: leave it out with --corpus");
    }
    // The generated corpus has four users; the 20 MB message comes on top.
    const messages = line.number("messages", 60, 4, 1_000_000, true);
    return { corpusDir: line.string("corpus"), messagesPerUser: Math.ceil(messages / 4), report: line.string("report") };
}

async function main(argv: string[]) {
    let options: RehearseOptions;
    try {
        options = parseRehearseArgs(argv);
    } catch (e) {
        process.stderr.write(`rehearse: error: ${e instanceof Error ? e.message : e}\n`);
        process.exit(2);
    }
    const rehearsal = new Rehearsal({ ...options, log: (l) => process.stderr.write(`${l}\n`) });
    let report: Report;
    try {
        report = await rehearsal.run();
    } catch (e) {
        rehearsal.scenario("the rehearsal ran to the end", false, e instanceof Error ? e.message : String(e));
        report = rehearsal.report;
        report.ok = false;
    } finally {
        rehearsal.lab.close();
    }
    const json = `${JSON.stringify(report, null, 2)}\n`;
    if (options.report) writeFileSync(options.report, json);
    process.stdout.write(json);
    process.exit(report.ok ? 0 : 1);
}

if (require.main === module) void main(process.argv.slice(2));
