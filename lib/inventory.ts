/**
 * What scripts/inventory.sh reports about a box, and the checks made on it: the guards of
 * `prepare` and `provision` and the parity checks of `verify`. Pure.
 */
import type { TransferMethod } from "./config";
import { DEFAULT_STORAGE_ROOT } from "./steps";

export interface Folder {
    readonly name: string;
    readonly messages: number;
    readonly bytes: number;
    /** SHA-256 of the folder's message file names (up to ":2,"), sorted. */
    readonly digest: string;
}

export interface Inventory {
    readonly hostname: string;
    readonly miabVersion: string | null;
    readonly ubuntu: string | null;
    readonly storageRoot: string;
    readonly users: readonly { readonly email: string; readonly privileges: string; readonly quota: string }[];
    readonly aliases: readonly { readonly source: string; readonly destination: string; readonly permittedSenders: string }[];
    readonly domains: readonly string[];
    readonly mailboxes: readonly { readonly user: string; readonly folders: readonly Folder[] }[];
    readonly dkim: string | null;
    readonly diskUsedBytes: number;
    readonly diskTotalBytes: number;
    readonly backup: { readonly target: string; readonly latest: string | null };
}

/** Parses inventory.sh's output; `where` names the box in the error. */
export function parseInventory(json: string, where: string): Inventory {
    let value: unknown;
    try {
        value = JSON.parse(json);
    } catch {
        throw new Error(`miab-migrate: the inventory of the ${where} is not JSON: ${JSON.stringify(json.slice(0, 200))}`);
    }
    const inv = value as Inventory;
    for (const key of ["hostname", "storageRoot", "users", "aliases", "domains", "mailboxes", "diskUsedBytes", "backup"] as const) {
        if (inv?.[key] === undefined) throw new Error(`miab-migrate: the inventory of the ${where} has no "${key}"`);
    }
    return inv;
}

/** New boxes need room for the old box's data plus this much. */
export const DISK_HEADROOM = 0.2;

/**
 * The guards on the old box's inventory, checked before anything is copied: it is the
 * box the stack describes, its DKIM key is the one published, and its data fits on the
 * new box. Returns one message per problem.
 */
export function inventoryProblems(
    inv: Inventory,
    expect: { hostname: string; dkim: string; newDiskGb?: number; transfer?: TransferMethod },
): string[] {
    const problems: string[] = [];
    if (
        expect.transfer === "backup" &&
        inv.backup.target !== "local" &&
        inv.backup.target !== `file://${inv.storageRoot}/backup/encrypted`
    ) {
        problems.push(
            `transfer backup needs the old box's backups on the box itself (target local); its target is ${inv.backup.target}: ` +
                "use transfer rsync, or set the backup target to local in its control panel",
        );
    }
    if (inv.hostname !== expect.hostname) {
        problems.push(
            `the old box's PRIMARY_HOSTNAME is ${inv.hostname}, not ${expect.hostname}: set hostname to ${inv.hostname} ` +
                "(the new box must have the same name), or check oldServer.ipv4",
        );
    }
    if (inv.storageRoot !== DEFAULT_STORAGE_ROOT) {
        problems.push(
            `the old box keeps its data in ${inv.storageRoot} (STORAGE_ROOT); this version of miab-migrate moves only ${DEFAULT_STORAGE_ROOT}`,
        );
    }
    if (inv.dkim !== null && inv.dkim !== expect.dkim) {
        problems.push(`dns.dkim differs from the old box's mail/dkim/mail.txt: set dns.dkim to "${inv.dkim}"`);
    }
    if (expect.newDiskGb !== undefined) {
        const needed = inv.diskUsedBytes * (1 + DISK_HEADROOM);
        const have = expect.newDiskGb * 1e9;
        if (needed > have) {
            problems.push(
                `the old box holds ${gb(inv.diskUsedBytes)} GB; with ${DISK_HEADROOM * 100}% headroom the new box needs ` +
                    `${gb(needed)} GB but newServer.size has ${expect.newDiskGb} GB: choose a larger newServer.size`,
            );
        }
    }
    return problems;
}

const gb = (bytes: number) => (bytes / 1e9).toFixed(1);

export interface Check {
    readonly name: string;
    readonly ok: boolean;
    readonly detail: string;
}

export interface Verification {
    readonly ok: boolean;
    readonly failed: number;
    readonly checks: readonly Check[];
    /** Mail-in-a-Box's own status checks on the new box that are not "ok", listed for reading (they do not gate). */
    readonly statusChecks?: readonly string[];
}

/** What scripts/health.sh reports about the new box. */
export interface Health {
    readonly services: Readonly<Record<string, string>>;
    readonly tls: Readonly<Record<string, { readonly ok: boolean; readonly detail: string }>>;
    readonly statusChecks: readonly { readonly type: string; readonly text: string }[] | null;
    readonly statusError: string | null;
}

export function parseHealth(json: string): Health {
    try {
        const h = JSON.parse(json) as Health;
        if (h?.services !== undefined && h.tls !== undefined) return h;
    } catch {
        // reported below
    }
    throw new Error(`miab-migrate: the health report of the new box is not what health.sh prints: ${JSON.stringify(json.slice(0, 200))}`);
}

/** The new box serves: its services run and IMAPS and submission answer with TLS. */
export function healthChecks(h: Health): Check[] {
    return [
        ...Object.entries(h.services).map(([name, state]) => ({ name: `service ${name}`, ok: state === "active", detail: state })),
        ...Object.entries(h.tls).map(([name, t]) => ({ name: `tls ${name}`, ok: t.ok, detail: t.detail })),
    ];
}

/** Mail-in-a-Box's status checks that need reading: errors and warnings, or why they could not be read. */
export function statusLines(h: Health): string[] {
    if (h.statusChecks === null) return [`not available: ${h.statusError ?? "unknown error"}`];
    return h.statusChecks.filter((c) => c.type === "error" || c.type === "warning").map((c) => `${c.type}: ${c.text}`);
}

function sameList(name: string, old: readonly string[], now: readonly string[]): Check {
    const missing = old.filter((x) => !now.includes(x));
    const extra = now.filter((x) => !old.includes(x));
    const ok = missing.length === 0 && extra.length === 0;
    const parts = [
        missing.length > 0 ? `missing on new: ${missing.join(", ")}` : "",
        extra.length > 0 ? `only on new: ${extra.join(", ")}` : "",
    ];
    return { name, ok, detail: ok ? `${old.length} on both` : parts.filter((p) => p !== "").join("; ") };
}

/**
 * Old and new compared after the restore: users, aliases, domains, the DKIM key, and for
 * every folder of every mailbox the message count and the set of messages (digest); with
 * the new box's health, its services and TLS too.
 */
export function compareInventories(old: Inventory, now: Inventory, health?: Health): Verification {
    const checks: Check[] = [
        sameList(
            "users",
            old.users.map((u) => `${u.email} [${u.privileges}]`),
            now.users.map((u) => `${u.email} [${u.privileges}]`),
        ),
        sameList(
            "aliases",
            old.aliases.map((a) => `${a.source} -> ${a.destination}`),
            now.aliases.map((a) => `${a.source} -> ${a.destination}`),
        ),
        sameList("domains", old.domains, now.domains),
        { name: "dkim", ok: old.dkim === now.dkim, detail: old.dkim === now.dkim ? "same key" : "the DKIM keys differ" },
    ];
    for (const box of old.mailboxes) {
        const other = now.mailboxes.find((m) => m.user === box.user);
        for (const f of box.folders) {
            const g = other?.folders.find((x) => x.name === f.name);
            const ok = g !== undefined && g.messages === f.messages && g.digest === f.digest;
            const detail =
                g === undefined
                    ? `missing on new (${f.messages} messages on old)`
                    : g.messages !== f.messages
                      ? `${f.messages} messages on old, ${g.messages} on new`
                      : g.digest !== f.digest
                        ? `${f.messages} messages on both, but not the same ones`
                        : `${f.messages} messages on both`;
            checks.push({ name: `mailbox ${box.user} ${f.name}`, ok, detail });
        }
    }
    if (health) checks.push(...healthChecks(health));
    const failed = checks.filter((c) => !c.ok).length;
    return health ? { ok: failed === 0, failed, checks, statusChecks: statusLines(health) } : { ok: failed === 0, failed, checks };
}
