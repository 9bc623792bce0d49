/**
 * The command lines of the remote steps: which script runs with which arguments. Pure, so
 * the components and the tests that run the scripts on test hosts use the same strings.
 * Every value that reaches a command line is shell-quoted; secrets never do (they go on
 * stdin).
 */
import { REMOTE_DIR, shellQuote, uploadCommand } from "./scripts";

/** The scripts each box gets, uploaded before its first step. */
export const OLD_BOX_SCRIPTS = [
    "inventory.sh",
    "backup-files.sh",
    "freeze.sh",
    "transfer-access.sh",
    "transfer-gate.sh",
    "postfix-settings.sh",
    "relay.sh",
    "decommission.sh",
    "final-backup.sh",
] as const;
/** install-miab.sh is uploaded by the MiabInstall component, before these. */
export const NEW_BOX_SCRIPTS = ["inventory.sh", "health.sh", "transfer.sh", "restore.sh", "postfix-settings.sh", "monitor.sh"] as const;

/** Where the new box keeps the copy of the old box until `restore` moves it into place. */
export const STAGING_DIR = "/home/miab-migrate-staging";

/** The old box's storage root unless its inventory says otherwise. */
export const DEFAULT_STORAGE_ROOT = "/home/user-data";

export interface OldBoxAddress {
    readonly ipv4: string;
    readonly sshPort: number;
    readonly hostKey: string;
}

function script(name: string, ...args: string[]): string {
    return [`${REMOTE_DIR}/${name}`, ...args].map(shellQuote).join(" ");
}

/** Runs `command` as root: as is for root, through `sudo -n` (no password prompt) for another user. */
export function asRoot(user: string, command: string): string {
    return user === "root" ? command : `sudo -n sh -c ${shellQuote(command)}`;
}

/**
 * The first command on a box in every phase: installs ssh-access.sh (from stdin) and lets
 * the address this SSH session comes from past Mail-in-a-Box's SSH rate limit, so that
 * the steps after it, several connections at once, are not refused. sshd puts that
 * address in SSH_CLIENT, which sudo drops: the login shell expands it and hands it to
 * root's shell as $1. `run` (the phase) makes the command change, and so run again, in
 * every phase: the address may have changed since.
 */
export function sshAccessCommand(user: string, port: number, run: string): string {
    const allow = script("ssh-access.sh", "allow", "--label", "operator", "--port", String(port), "--run", run);
    const inner = `${uploadCommand("ssh-access.sh")} && ${allow} --from "$1"`;
    return `${user === "root" ? "" : "sudo -n "}sh -c ${shellQuote(inner)} sh "\${SSH_CLIENT%% *}"`;
}

/** Removes that rule (when the stack is destroyed), unless a later run owns it. */
export function sshAccessRemove(user: string, run: string): string {
    return asRoot(user, script("ssh-access.sh", "remove", "--label", "operator", "--run", run));
}

function oldArgs(old: OldBoxAddress): string[] {
    return ["--old", old.ipv4, "--port", String(old.sshPort)];
}

export interface InstallArgs {
    readonly hostname: string;
    readonly publicIpv4: string;
    readonly publicIpv6: string;
    readonly tag: string;
    readonly adminEmail: string;
    readonly timeoutSeconds: number;
}

export const steps = {
    installMiab: (a: InstallArgs) =>
        script(
            "install-miab.sh",
            "--hostname",
            a.hostname,
            "--public-ip",
            a.publicIpv4,
            "--public-ipv6",
            a.publicIpv6,
            "--tag",
            a.tag,
            "--admin-email",
            a.adminEmail,
            "--timeout-seconds",
            String(a.timeoutSeconds),
        ),
    inventory: () => script("inventory.sh"),
    health: () => script("health.sh"),
    backupFiles: () => script("backup-files.sh"),
    freeze: (sshPort: number) => script("freeze.sh", "close", "--ssh-port", String(sshPort)),
    thaw: () => script("freeze.sh", "open"),
    grantTransfer: (newIpv4: string, sshPort: number) =>
        script("transfer-access.sh", "grant", "--from", newIpv4, "--port", String(sshPort)),
    revokeTransfer: () => script("transfer-access.sh", "revoke"),
    transferSetup: (old: OldBoxAddress) =>
        script("transfer.sh", "setup", ...oldArgs(old), "--old-host-key", old.hostKey.split(/\s+/).slice(0, 2).join(" ")),
    transferForget: () => script("transfer.sh", "forget"),
    pull: (old: OldBoxAddress, sourceRoot: string) =>
        script("transfer.sh", "pull", ...oldArgs(old), "--source-root", sourceRoot, "--dest", `${STAGING_DIR}/user-data`),
    stragglers: (old: OldBoxAddress, sourceRoot: string) =>
        script("transfer.sh", "stragglers", ...oldArgs(old), "--source-root", sourceRoot, "--storage-root", DEFAULT_STORAGE_ROOT),
    pushBack: (old: OldBoxAddress, sourceRoot: string) =>
        script("transfer.sh", "push-back", ...oldArgs(old), "--source-root", sourceRoot, "--storage-root", DEFAULT_STORAGE_ROOT),
    softBounce: () => script("postfix-settings.sh", "apply", "soft-bounce", "soft_bounce=yes"),
    noSoftBounce: () => script("postfix-settings.sh", "restore", "soft-bounce"),
    trustOld: (oldIpv4: string) => script("postfix-settings.sh", "apply", "trust-old", `mynetworks+=${oldIpv4}/32`),
    untrustOld: () => script("postfix-settings.sh", "restore", "trust-old"),
    relay: (newIpv4: string) => script("relay.sh", "on", "--to", newIpv4),
    unrelay: () => script("relay.sh", "off"),
    monitor: (newIpv4: string) => script("monitor.sh", "--ipv4", newIpv4),
    retire: (archive?: string) => script("decommission.sh", "stop", ...(archive ? ["--archive", archive] : [])),
    unretire: () => script("decommission.sh", "start"),
    finalBackup: () => script("final-backup.sh"),
    pullBackups: (old: OldBoxAddress, sourceRoot: string) =>
        script("transfer.sh", "pull-backups", ...oldArgs(old), "--source-root", sourceRoot, "--dest", `${STAGING_DIR}/encrypted`),
    restoreFromBackup: () =>
        script("restore.sh", "apply", "--staging", `${STAGING_DIR}/user-data`, "--from-backup", `${STAGING_DIR}/encrypted`),
    restore: () => script("restore.sh", "apply", "--staging", `${STAGING_DIR}/user-data`),
    unrestore: () => script("restore.sh", "undo", "--staging", `${STAGING_DIR}/user-data`),
};
