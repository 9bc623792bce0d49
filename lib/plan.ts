/**
 * The remote steps of the migration, phase by phase: which script runs on which box,
 * with which arguments, what it waits for, and what undoes it. Pure: the program builds
 * its commands from this plan, and the runbook (`npm run runbook`) prints it.
 *
 * A step exists while `from <= phase < until`. Pulumi runs its `create` when it enters the
 * plan and its `delete` when it leaves it, after the steps that wait for it: moving
 * `phase` back undoes the later steps in reverse order.
 */
import type { MigrationConfig } from "./config";
import { type Phase, atLeast, phaseIndex } from "./phases";
import { DEFAULT_STORAGE_ROOT, steps } from "./steps";

export type BoxRole = "old" | "new";

/** Where a step's stdin comes from (never its command line). */
export type StepInput = "transferPublicKey" | "transferPrivateKey" | "backupFiles" | "adminPassword";

/** Values known only once the new box exists; the runbook shows placeholders. */
export interface StepContext {
    readonly newIpv4: string;
    readonly newIpv6: string;
}

export interface PlannedStep {
    /** Resource name: `<box>-<name>`. */
    readonly name: string;
    readonly box: BoxRole;
    readonly from: Phase;
    readonly until?: Phase;
    /** One line for the runbook. */
    readonly what: string;
    readonly create: (ctx: StepContext) => string;
    /** The undo, run when the step leaves the plan. */
    readonly delete?: string;
    readonly stdin?: StepInput;
    /** Steps (by resource name) that must have finished first; the new box's install is "new-install". */
    readonly after: readonly string[];
    /** Re-run the step in every phase up to `verify` (a fresh read), not after: verify's result stays what the cutover checks. */
    readonly everyPhase?: boolean;
    /** Its output is a secret: never logged, encrypted in the state. */
    readonly secretOutput?: boolean;
    readonly timeoutMinutes?: number;
}

/** The install of Mail-in-a-Box on the new box; also re-run after the restore. */
export function installCommand(config: MigrationConfig, ctx: StepContext): string {
    return steps.installMiab({
        hostname: config.hostname,
        publicIpv4: ctx.newIpv4,
        publicIpv6: ctx.newIpv6,
        tag: config.newServer.miabTag,
        adminEmail: config.newServer.adminEmail,
        timeoutSeconds: config.newServer.installTimeoutMinutes * 60,
    });
}

/** Where `decommission.archive` writes the old box's data, on the old box. */
export const ARCHIVE = "/root/miab-migrate-archive.tar.gz";

export function planSteps(config: MigrationConfig): PlannedStep[] {
    const old = config.oldServer;
    const sourceRoot = DEFAULT_STORAGE_ROOT;
    const install = config.newServer.installTimeoutMinutes + 10;
    const byBackup = config.transfer === "backup";
    const copy = byBackup ? () => steps.pullBackups(old, sourceRoot) : () => steps.pull(old, sourceRoot);
    const plan: PlannedStep[] = [
        {
            name: "old-inventory",
            box: "old",
            from: "prepare",
            what: "read-only inventory of the old box (users, aliases, folders, DKIM, disk, backups)",
            create: () => steps.inventory(),
            after: [],
            everyPhase: true,
        },
        {
            name: "old-backup-files",
            box: "old",
            from: "prepare",
            what: "read the old box's backup/secret_key.txt and custom.yaml (kept as a secret)",
            create: () => steps.backupFiles(),
            after: [],
            secretOutput: true,
        },
        {
            name: "old-transfer-access",
            box: "old",
            from: "provision",
            until: "decommission",
            what: "let the migration's transfer key in from the new box's address, for rsync through transfer-gate.sh only, past the SSH rate limit",
            create: (ctx) => steps.grantTransfer(ctx.newIpv4, old.sshPort),
            delete: steps.revokeTransfer(),
            stdin: "transferPublicKey",
            after: [],
        },
        {
            name: "new-transfer-key",
            box: "new",
            from: "provision",
            until: "decommission",
            what: "install the transfer key on the new box and pin the old box's host key",
            create: () => steps.transferSetup(old),
            delete: steps.transferForget(),
            stdin: "transferPrivateKey",
            after: [],
        },
    ];
    if (config.precopy) {
        plan.push({
            name: "new-precopy",
            box: "new",
            from: "provision",
            what: byBackup
                ? "hot pre-copy of the old box's encrypted backups while it still serves (the final copy then moves only the new one)"
                : "hot pre-copy of the old box's data while it still serves (the final copy then moves only the changes)",
            create: copy,
            after: ["old-transfer-access", "new-transfer-key"],
            timeoutMinutes: 600,
        });
    }
    plan.push(
        {
            name: "old-freeze",
            box: "old",
            from: "freeze",
            what: `old box: firewall closed but SSH (port ${old.sshPort}), Postfix and Dovecot stopped; undo: serves again as before`,
            create: () => steps.freeze(old.sshPort),
            delete: steps.thaw(),
            after: config.precopy ? ["new-precopy"] : [],
        },
        ...(byBackup
            ? [
                  {
                      name: "old-final-backup",
                      box: "old" as const,
                      from: "freeze" as const,
                      what: "Mail-in-a-Box's own backup of the frozen old box (management/backup.py), as its move procedure says",
                      create: () => steps.finalBackup(),
                      after: ["old-freeze"],
                      timeoutMinutes: 600,
                  },
              ]
            : []),
        {
            name: "new-final-copy",
            box: "new",
            from: "freeze",
            what: byBackup
                ? "copy the final encrypted backups from the frozen old box"
                : "final copy from the frozen old box (rsync: only what changed since the pre-copy)",
            create: copy,
            after: [byBackup ? "old-final-backup" : "old-freeze", "old-transfer-access", "new-transfer-key"],
            timeoutMinutes: 600,
        },
        {
            name: "new-restore",
            box: "new",
            from: "restore",
            what: byBackup
                ? "restore the old box's backups with duplicity, move them into place with the old backup key; undo: the fresh install back in place"
                : "move the copy into place on the new box with the old backup key; undo: the fresh install back in place",
            create: byBackup ? () => steps.restoreFromBackup() : () => steps.restore(),
            delete: steps.unrestore(),
            stdin: "backupFiles",
            after: ["new-final-copy", "new-install"],
        },
        {
            name: "new-resetup",
            box: "new",
            from: "restore",
            what: "re-run Mail-in-a-Box's setup on the restored data (its supported repair step)",
            create: (ctx) => installCommand(config, ctx),
            stdin: "adminPassword",
            after: ["new-restore"],
            timeoutMinutes: install,
        },
        {
            name: "new-inventory",
            box: "new",
            from: "verify",
            what: "read-only inventory of the new box, compared with the old box's",
            create: () => steps.inventory(),
            after: ["new-resetup"],
            everyPhase: true,
        },
        {
            name: "new-health",
            box: "new",
            from: "verify",
            what: "read-only health of the new box: postfix, dovecot, nginx running; TLS on IMAPS and submission; Mail-in-a-Box's status checks",
            create: () => steps.health(),
            after: ["new-resetup"],
            everyPhase: true,
        },
        {
            name: "new-soft-bounce",
            box: "new",
            from: "cutover",
            until: "monitor",
            what: "Postfix soft_bounce=yes on the new box while the cutover is watched: nothing is bounced, all is kept queued",
            create: () => steps.softBounce(),
            delete: steps.noSoftBounce(),
            after: ["new-inventory", "new-health"],
        },
        {
            name: "new-trust-old",
            box: "new",
            from: "cutover",
            until: "decommission",
            what: "the new box accepts what the old box relays (old IPv4 in mynetworks: no greylisting or SPF refusal of forwarded mail)",
            create: () => steps.trustOld(old.ipv4),
            delete: steps.untrustOld(),
            after: ["new-inventory"],
        },
        {
            name: "new-takeover",
            box: "new",
            from: "cutover",
            what: "record the cutover time; undo (rollback): copy every message that reached only the new box back to the old box",
            create: () => "date -u +%Y-%m-%dT%H:%M:%SZ",
            delete: steps.pushBack(old, sourceRoot),
            after: ["new-soft-bounce", "new-trust-old", "new-transfer-key", "old-transfer-access"],
        },
        {
            name: "old-relay",
            box: "old",
            from: "cutover",
            until: "decommission",
            what: "the frozen old box takes port 25 again only to relay everything to the new box (stale DNS caches); IMAP stays closed",
            create: (ctx) => steps.relay(ctx.newIpv4),
            delete: steps.unrelay(),
            after: ["new-takeover"],
        },
        {
            name: "new-monitor",
            box: "new",
            from: "monitor",
            what: "TLS certificates, a first backup with the old key and target (verified), mail queue and DNSBL report",
            create: (ctx) => steps.monitor(ctx.newIpv4),
            after: ["new-takeover"],
            timeoutMinutes: 120,
        },
        {
            name: "new-stragglers",
            box: "new",
            from: "decommission",
            what: "copy any message that landed only on the old box to the new box",
            create: () => steps.stragglers(old, sourceRoot),
            after: ["new-takeover", "old-relay"],
            timeoutMinutes: 120,
        },
        {
            name: "old-retire",
            box: "old",
            from: "decommission",
            what: `stop and disable the old box's mail services and nightly job${config.decommission.archive ? `, after archiving its data to ${ARCHIVE}` : ""} (the server itself is kept)`,
            create: () => steps.retire(config.decommission.archive ? ARCHIVE : undefined),
            delete: steps.unretire(),
            after: ["new-stragglers"],
            timeoutMinutes: 120,
        },
    );
    return plan;
}

/** The trigger of an everyPhase step: the phase, but no later than `verify`. */
export function readTrigger(phase: Phase): Phase {
    return atLeast(phase, "verify") ? "verify" : phase;
}

/** The steps that exist in `phase`. */
export function activeSteps(plan: readonly PlannedStep[], phase: Phase): PlannedStep[] {
    return plan.filter((s) => atLeast(phase, s.from) && (s.until === undefined || phaseIndex(phase) < phaseIndex(s.until)));
}
