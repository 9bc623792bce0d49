/**
 * `npm run runbook -- --stack <name>`: the migration plan of a stack, from the same phase
 * model and step plan the program uses: for each phase, the config change and commands to
 * run, the commands each box will run (and their undo), and the guards with whether they
 * pass with the stack's committed configuration. Reads only Pulumi.<stack>.yaml: no cloud
 * credentials, no state.
 */
import { ConfigError, type MigrationConfig, parseConfig } from "../lib/config";
import { PHASES, PHASE_SUMMARY, type Phase, atLeast, phaseIndex } from "../lib/phases";
import { type BoxRole, type StepInput, planSteps } from "../lib/plan";
import { sshAccessCommand, sshAccessRemove } from "../lib/steps";
import { readStackFile } from "./stackFile";

const PLACEHOLDERS = { newIpv4: "<new box IPv4>", newIpv6: "<new box IPv6>" };

const STDIN: Record<StepInput, string> = {
    transferPublicKey: "the transfer key's public half",
    transferPrivateKey: "the transfer key (secret)",
    backupFiles: "the old box's backup key and settings (secret)",
    adminPassword: "the admin password (secret)",
};

function where(box: BoxRole, config: MigrationConfig): string {
    const old = config.oldServer;
    return box === "old" ? `old box ${old.sshUser}@${old.ipv4}:${old.sshPort}` : "new box root@<new box IPv4>";
}

export function runbook(stack: string, raw: Record<string, unknown>): string {
    const hasKey = raw.sshPrivateKey !== undefined;
    let config: MigrationConfig;
    try {
        config = parseConfig({ ...raw, hasSshPrivateKey: true });
    } catch (e) {
        if (e instanceof ConfigError) return `${e.message}\nFix the configuration of stack ${stack} first.\n`;
        throw e;
    }
    const plan = planSteps(config);
    const out: string[] = [
        `miab-migrate runbook for stack ${stack}: ${config.hostname}, old box ${config.oldServer.ipv4}, now in phase ${config.phase}`,
        "",
    ];
    if (!hasKey) out.push("Before anything else: pulumi config set --secret sshPrivateKey < ~/.ssh/miab-migrate", "");
    for (const phase of PHASES) {
        const i = phaseIndex(phase);
        const mark = phase === config.phase ? "  <- current" : i < phaseIndex(config.phase) ? "  (done)" : "";
        out.push(`${i + 1}. ${phase}: ${PHASE_SUMMARY[phase]}${mark}`);
        out.push(`   run: ${configChange(stack, phase)}`);
        for (const box of atLeast(phase, "provision") ? (["old", "new"] as const) : (["old"] as const)) {
            const user = box === "old" ? config.oldServer.sshUser : "root";
            const port = box === "old" ? config.oldServer.sshPort : 22;
            out.push(
                `   - on the ${where(box, config)}, first${box === "new" ? " (after the install)" : ""}: let the address this runs from past Mail-in-a-Box's SSH rate limit (ufw rule "# miab-migrate operator"), then upload the scripts`,
            );
            out.push(`       runs: ${sshAccessCommand(user, port, phase)}  (stdin: scripts/ssh-access.sh)`);
            out.push(`       undo (pulumi destroy): ${sshAccessRemove(user, phase)}`);
        }
        for (const step of plan.filter((s) => s.from === phase)) {
            out.push(`   - on the ${where(step.box, config)}: ${step.what}`);
            out.push(`       runs: ${step.create(PLACEHOLDERS)}${step.stdin ? `  (stdin: ${STDIN[step.stdin]})` : ""}`);
            if (step.delete) out.push(`       undo: ${step.delete}`);
        }
        for (const step of plan.filter((s) => s.until === phase)) {
            out.push(`   - on the ${where(step.box, config)}: removed: ${step.what}`);
            if (step.delete) out.push(`       runs: ${step.delete}`);
        }
        for (const line of guards(phase, config)) out.push(`   guard: ${line}`);
        out.push("");
    }
    out.push(
        "Rollback: set phase to an earlier value and run pulumi up; each step's undo runs, latest first.",
        "See README.md, section Rollback.",
    );
    return `${out.join("\n")}\n`;
}

function guards(phase: Phase, config: MigrationConfig): string[] {
    const ok = (b: boolean) => (b ? "passes now" : "fails now");
    switch (phase) {
        case "prepare":
            return ["configuration valid: passes now"];
        case "provision":
            return [
                "old box's PRIMARY_HOSTNAME equals hostname, its DKIM key equals dns.dkim, its data is in /home/user-data: checked on its inventory",
                `new box disk holds the old box's data + 20%: checked against newServer.size ${config.newServer.size}`,
            ];
        case "cutover":
            return [
                `dns.ttl (${config.dns.ttl} s) changed at least dns.previousTtl (${config.dns.previousTtl} s) before: checked by pulumi preview against the time recorded in the state`,
                `verify passed, or cutover.acceptFailedChecks gives a reason (${config.cutover.acceptFailedChecks === undefined ? "not set" : "set"}): checked by pulumi preview`,
                `dns.target new only from this phase on: ${ok(config.dns.target === "old" || atLeast(config.phase, "cutover"))}`,
            ];
        case "decommission":
            return [
                `at least decommission.afterDays (${config.decommission.afterDays}) days after the cutover: checked by pulumi preview against the cutover time in the state`,
            ];
        default:
            return [];
    }
}

/** The configuration change that enters each phase. */
function configChange(stack: string, phase: Phase): string {
    const set = (k: string, v: string) => `pulumi config set -s ${stack} ${k} ${v}`;
    const more = phase === "cutover" ? ` && ${set("--path dns.target", "new")}` : "";
    return `${set("phase", phase)}${more} && pulumi preview -s ${stack} && pulumi up -s ${stack}`;
}

function main(argv: string[]): void {
    const i = argv.indexOf("--stack");
    const stack = i >= 0 ? argv[i + 1] : undefined;
    if (stack === undefined || !/^[A-Za-z0-9_.-]+$/.test(stack)) {
        process.stderr.write("usage: npm run runbook -- --stack <name>   (reads Pulumi.<name>.yaml)\n");
        process.exit(2);
    }
    let raw: Record<string, unknown>;
    try {
        raw = readStackFile(stack);
    } catch (e) {
        process.stderr.write(`runbook: cannot read Pulumi.${stack}.yaml: ${e instanceof Error ? e.message : e}\n`);
        process.exit(2);
    }
    process.stdout.write(runbook(stack, raw));
}

if (require.main === module) main(process.argv.slice(2));
