import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { TransferMethod } from "../lib/config";
import { cutoverProblems, decommissionProblems, parseTimestamp } from "../lib/guards";
import { type Inventory, type Verification, compareInventories, inventoryProblems, parseHealth, parseInventory } from "../lib/inventory";
import { type PlannedStep, type StepContext, type StepInput, readTrigger } from "../lib/plan";
import { type Phase, atLeast } from "../lib/phases";
import { NEW_BOX_SCRIPTS, OLD_BOX_SCRIPTS } from "../lib/steps";
import { RemoteScripts, sshConnection } from "./remoteScripts";

export interface BoxAccess {
    /** Address to reach the box at (never its hostname, which moves at cutover). */
    readonly host: pulumi.Input<string>;
    readonly port: number;
    readonly user: string;
    /** The box's pinned SSH host key. */
    readonly hostKey: pulumi.Input<string>;
}

export interface MigrationStepsArgs {
    /** The steps of the current phase (lib/plan.ts activeSteps). */
    readonly steps: readonly PlannedStep[];
    /** The current phase: steps marked everyPhase re-run when it changes (up to verify). */
    readonly phase: Phase;
    /** Private key the program logs in with (secret). */
    readonly privateKey: pulumi.Input<string>;
    readonly oldBox: BoxAccess;
    /** The new box, once it exists (from `provision` on). */
    readonly newBox?: BoxAccess & { readonly ipv4: pulumi.Input<string>; readonly ipv6: pulumi.Input<string> };
    /** The new box's Mail-in-a-Box install step and its admin password (secret). */
    readonly install?: { readonly step: command.remote.Command; readonly adminPassword: pulumi.Input<string> };
    /** What the old box's inventory must show before anything is copied. */
    readonly expect: {
        readonly hostname: string;
        readonly dkim: string;
        readonly newDiskGb: pulumi.Input<number>;
        readonly transfer: TransferMethod;
    };
    /** dns.ttl: when it changes, the time is recorded for the cutover's wait. */
    readonly ttl: number;
    /** dns.previousTtl, cutover.acceptFailedChecks, decommission.afterDays. */
    readonly guards: { readonly previousTtl: number; readonly acceptFailedChecks?: string; readonly decommissionAfterDays: number };
    /** The time the guards compare against; default now. */
    readonly now?: Date;
}

/**
 * The migration's remote steps on both boxes, built from the plan. The old box's inventory
 * is checked (hostname, DKIM key, disk space) before any other step may run: every other
 * step's command waits for that check and is never run when it fails.
 */
export class MigrationSteps extends pulumi.ComponentResource {
    /** The old box's inventory, checked. */
    public readonly oldInventory: pulumi.Output<Inventory>;
    /** Old and new compared, from `verify` on. */
    public readonly verification?: pulumi.Output<Verification>;
    /** The cutover's guards, checked in phase `cutover`: a line saying what passed. */
    public readonly cutoverCheck: pulumi.Output<string>;
    /** When the cutover happened (recorded on the new box), from `cutover` on. */
    public readonly cutoverAt?: pulumi.Output<string>;
    /** The monitor phase's report (scripts/monitor.sh), from `monitor` on. */
    public readonly monitorReport?: pulumi.Output<unknown>;

    constructor(name: string, args: MigrationStepsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("miab-migrate:index:MigrationSteps", name, {}, opts);

        const connect = (b: BoxAccess) => sshConnection({ ...b, privateKey: args.privateKey });
        const boxes: Record<string, RemoteScripts | undefined> = {
            old: new RemoteScripts(
                `${name}-old-scripts`,
                {
                    connection: connect(args.oldBox),
                    user: args.oldBox.user,
                    sshPort: args.oldBox.port,
                    phase: args.phase,
                    scripts: OLD_BOX_SCRIPTS,
                },
                { parent: this },
            ),
            new: args.newBox
                ? new RemoteScripts(
                      `${name}-new-scripts`,
                      {
                          connection: connect(args.newBox),
                          user: args.newBox.user,
                          sshPort: args.newBox.port,
                          phase: args.phase,
                          scripts: NEW_BOX_SCRIPTS,
                      },
                      { parent: this, dependsOn: args.install ? [args.install.step] : [] },
                  )
                : undefined,
        };

        const needsKey = args.steps.some((s) => s.stdin === "transferPublicKey" || s.stdin === "transferPrivateKey");
        const transferKey = needsKey ? new tls.PrivateKey(`${name}-transfer-key`, { algorithm: "ED25519" }, { parent: this }) : undefined;

        const ctx: pulumi.Output<StepContext> = pulumi
            .all([args.newBox?.ipv4 ?? "", args.newBox?.ipv6 ?? ""])
            .apply(([newIpv4, newIpv6]) => ({ newIpv4, newIpv6 }));

        const now = args.now ?? new Date();
        // When dns.ttl last changed: re-recorded whenever it changes.
        const ttlChanged = new command.local.Command(
            `${name}-ttl-changed`,
            { create: "date -u +%Y-%m-%dT%H:%M:%SZ", triggers: [args.ttl] },
            { parent: this },
        );

        const built: Record<string, command.remote.Command> = {};
        if (args.install) built["new-install"] = args.install.step;
        let guard: pulumi.Output<Inventory> | undefined;
        const fail = (what: string, problems: string[], outcome = "nothing was changed") => {
            throw new Error(`miab-migrate: ${what}; ${outcome}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        };
        // The gates are built once, on first use: when the loop reaches the steps they guard,
        // the steps they read are built.
        const once = <T>(make: () => T): (() => T) => {
            let made: T | undefined;
            return () => (made ??= make());
        };
        const verificationOf = once((): pulumi.Output<Verification> =>
            pulumi
                .all([built["old-inventory"].stdout, built["new-inventory"].stdout, built["new-health"].stdout])
                .apply(([oldOut, newOut, healthOut]) =>
                    compareInventories(parseInventory(oldOut, "old box"), parseInventory(newOut, "new box"), parseHealth(healthOut)),
                ),
        );
        // Checked only in the cutover phase itself: raising the TTL again later is expected.
        const cutoverGate = once((): pulumi.Output<string> => {
            if (args.phase !== "cutover") return pulumi.output(`not checked in phase ${args.phase}`);
            return pulumi.all([ttlChanged.stdout, verificationOf()]).apply(([ttlAt, verification]) => {
                const problems = cutoverProblems({
                    now,
                    ttlChangedAt: parseTimestamp(ttlAt),
                    previousTtl: args.guards.previousTtl,
                    verification,
                    acceptFailedChecks: args.guards.acceptFailedChecks,
                });
                if (problems.length > 0) fail("the cutover is refused", problems);
                return verification.ok
                    ? "passed: TTL wait over, verification ok"
                    : `passed: TTL wait over; ${verification.failed} failed check(s) accepted: ${args.guards.acceptFailedChecks}`;
            });
        });
        const decommissionGate = once(() =>
            built["new-takeover"].stdout.apply((at) => {
                const cutoverAt = parseTimestamp(at);
                if (cutoverAt === undefined)
                    fail("the decommission is refused", ["the cutover time is not recorded: run the cutover first"]);
                const problems = decommissionProblems({ now, cutoverAt: cutoverAt as Date, afterDays: args.guards.decommissionAfterDays });
                if (problems.length > 0) fail("the decommission is refused", problems);
                return "passed";
            }),
        );

        for (const step of args.steps) {
            const box = boxes[step.box];
            if (box === undefined) throw new Error(`miab-migrate: step ${step.name} needs the new box, which does not exist in this phase`);
            const stdin = (input: StepInput | undefined): pulumi.Input<string> | undefined => {
                switch (input) {
                    case "transferPublicKey":
                        return transferKey?.publicKeyOpenssh;
                    case "transferPrivateKey":
                        return transferKey ? pulumi.secret(transferKey.privateKeyOpenssh) : undefined;
                    case "backupFiles":
                        return pulumi.secret(built["old-backup-files"].stdout);
                    case "adminPassword":
                        return args.install ? pulumi.secret(args.install.adminPassword) : undefined;
                    default:
                        return undefined;
                }
            };
            // Every step after the old box's inventory waits for its check, the cutover's
            // steps for the cutover's guards, the decommission's for its wait.
            const gates: pulumi.Output<unknown>[] = [];
            if (guard !== undefined) gates.push(guard);
            if (atLeast(step.from, "cutover")) gates.push(cutoverGate());
            if (step.from === "decommission") gates.push(decommissionGate());
            const create = pulumi.all([ctx, ...gates]).apply(([c]) => step.create(c));
            built[step.name] = box.step(
                `${name}-${step.name}`,
                {
                    create,
                    delete: step.delete,
                    stdin: stdin(step.stdin),
                    triggers: step.everyPhase ? [readTrigger(args.phase)] : undefined,
                    secretOutput: step.secretOutput,
                    timeoutMinutes: step.timeoutMinutes,
                },
                { dependsOn: step.after.map((a) => built[a]).filter((r) => r !== undefined) },
            );
            if (step.name === "old-inventory") {
                guard = pulumi.all([built[step.name].stdout, args.expect.newDiskGb]).apply(([out, newDiskGb]) => {
                    const inv = parseInventory(out, "old box");
                    const problems = inventoryProblems(inv, { ...args.expect, newDiskGb });
                    if (problems.length > 0) fail("the old box is not ready", problems, "nothing was copied");
                    return inv;
                });
            }
        }
        if (guard === undefined) throw new Error("miab-migrate: the plan must start with old-inventory");
        this.cutoverCheck = cutoverGate();
        if (built["new-takeover"]) this.cutoverAt = built["new-takeover"].stdout.apply((t) => t.trim());
        if (built["new-monitor"]) this.monitorReport = built["new-monitor"].stdout.apply((out) => JSON.parse(out) as unknown);
        this.oldInventory = guard;
        if (built["new-inventory"]) this.verification = verificationOf();
        this.registerOutputs({
            oldInventory: this.oldInventory,
            verification: this.verification,
            cutoverCheck: this.cutoverCheck,
            cutoverAt: this.cutoverAt,
            monitorReport: this.monitorReport,
        });
    }
}
