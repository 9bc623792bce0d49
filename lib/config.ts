/**
 * Stack configuration: the one place where it is read and validated. Everything else
 * takes the typed `MigrationConfig` this returns. Pure: the Pulumi runtime is not needed,
 * so every rule is tested directly (test/config.test.ts).
 */
import { customConflicts, planRecords } from "./records";
import { joinQuotedStrings } from "./txt";
import { PHASES, type Phase, isPhase, mayTargetNewBox } from "./phases";
import { isCidr, isFqdn, isIPv4, isIPv6, isSshPublicKey, isWithin } from "./validate";

export const MIN_TTL = 60;
export const MAX_TTL = 86400;

/** The only image accepted: Mail-in-a-Box v75 installs on Ubuntu 22.04 and refuses 24.04. */
export const SUPPORTED_IMAGE = "ubuntu-22-04-x64";

/** DigitalOcean regions that take new droplets (doctl compute region list, 2026). */
export const DO_REGIONS = ["ams3", "atl1", "blr1", "fra1", "lon1", "nyc1", "nyc2", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1"] as const;

export const CUSTOM_RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT"] as const;
export type CustomRecordType = (typeof CUSTOM_RECORD_TYPES)[number];

export interface DomainConfig {
    /** The mail domain, e.g. example.com. */
    readonly name: string;
    /** Cloudflare zone id; when absent the zone is looked up by `name`. */
    readonly zoneId?: string;
    /** Apex and www point at the box (Mail-in-a-Box's default). False when the website is hosted elsewhere. */
    readonly web: boolean;
    /** Publish the CalDAV/CardDAV SRV records (Mail-in-a-Box does for domains with mail users). */
    readonly davSrv: boolean;
}

export interface CustomRecord {
    readonly name: string;
    readonly type: CustomRecordType;
    /** Record content; for A/AAAA the word `local` means the box the DNS points at. */
    readonly content: string;
    /** MX preference. */
    readonly priority?: number;
}

export interface DnsConfig {
    readonly ttl: number;
    /** The TTL the records had before it was lowered: how long resolvers may hold them. */
    readonly previousTtl: number;
    readonly target: "old" | "new";
    /** The DKIM TXT value (`v=DKIM1; ... p=...`) from the old box's mail/dkim/mail.txt. */
    readonly dkim: string;
    readonly custom: readonly CustomRecord[];
    /** Record key (see README) -> Cloudflare import id `<zoneId>/<recordId>` of a record to adopt. */
    readonly adopt: Readonly<Record<string, string>>;
}

export interface OldServerConfig {
    readonly ipv4: string;
    readonly ipv6?: string;
    readonly sshUser: string;
    readonly sshPort: number;
    readonly hostKey: string;
}

export interface NewServerConfig {
    readonly region: string;
    readonly size: string;
    readonly image: string;
    readonly adminCidrs: readonly string[];
    readonly sshKeys: readonly string[];
    readonly protect: boolean;
    readonly miabTag: string;
    readonly adminEmail: string;
    readonly installTimeoutMinutes: number;
}

export const TRANSFER_METHODS = ["rsync", "backup"] as const;
export type TransferMethod = (typeof TRANSFER_METHODS)[number];

export interface CutoverConfig {
    /** A reason to cut over although verify found failed checks. */
    readonly acceptFailedChecks?: string;
}

export interface DecommissionConfig {
    /** Days after the cutover before the old box may be retired; default 7. */
    readonly afterDays: number;
    /** Archive the old box's data on it before its services stop; default false. */
    readonly archive: boolean;
}

export interface MigrationConfig {
    readonly hostname: string;
    readonly domains: readonly DomainConfig[];
    readonly phase: Phase;
    /** How the data moves: rsync (default) copies the storage root; backup restores Mail-in-a-Box's own backup. */
    readonly transfer: TransferMethod;
    /** Copy the data hot in `provision`, so the frozen copy moves only the changes; default true. */
    readonly precopy: boolean;
    readonly dns: DnsConfig;
    readonly oldServer: OldServerConfig;
    readonly newServer: NewServerConfig;
    readonly cutover: CutoverConfig;
    readonly decommission: DecommissionConfig;
}

/** Configuration as read from the stack, before validation. */
export interface RawConfig {
    readonly hostname?: unknown;
    readonly domains?: unknown;
    readonly phase?: unknown;
    readonly transfer?: unknown;
    readonly precopy?: unknown;
    readonly dns?: unknown;
    readonly oldServer?: unknown;
    readonly newServer?: unknown;
    readonly cutover?: unknown;
    readonly decommission?: unknown;
    /** Whether the secret `sshPrivateKey` is set (its value is never read here). */
    readonly hasSshPrivateKey: boolean;
}

/** Every problem found, one line each, so a user fixes them all in one go. */
export class ConfigError extends Error {
    constructor(public readonly problems: readonly string[]) {
        super(
            `miab-migrate: the stack configuration has ${problems.length} problem(s); nothing was changed:\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

type Obj = Record<string, unknown>;

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

function isObj(v: unknown): v is Obj {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Joins the quoted strings of OpenDKIM's mail.txt, as Mail-in-a-Box's dns_update.py does. */
export function normalizeDkim(raw: string): string {
    return joinQuotedStrings(raw).trim();
}

export function parseConfig(raw: RawConfig): MigrationConfig {
    const problems: string[] = [];
    const bad = (msg: string) => problems.push(msg);

    const str = (v: unknown, key: string, hint: string): string | undefined => {
        if (typeof v === "string" && v.trim() !== "") return v.trim();
        bad(v === undefined ? `${key} is required: ${hint}` : `${key} must be a string: ${hint} (got ${show(v)})`);
        return undefined;
    };
    const optStr = (v: unknown, key: string): string | undefined => {
        if (v === undefined || v === null || v === "") return undefined;
        if (typeof v === "string") return v.trim();
        bad(`${key} must be a string (got ${show(v)})`);
        return undefined;
    };
    const obj = (v: unknown, key: string): Obj => {
        if (isObj(v)) return v;
        bad(v === undefined ? `${key} is required (an object; see README "Configuration")` : `${key} must be an object (got ${show(v)})`);
        return {};
    };
    const int = (v: unknown, key: string, def: number, min: number, max: number, unit: string): number => {
        if (v === undefined) return def;
        const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
        if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
            bad(`${key} must be between ${min} and ${max} ${unit} (got ${show(v)})`);
            return def;
        }
        return n;
    };
    const bool = (v: unknown, key: string, def: boolean): boolean => {
        if (v === undefined) return def;
        if (v === true || v === "true") return true;
        if (v === false || v === "false") return false;
        bad(`${key} must be true or false (got ${show(v)})`);
        return def;
    };
    const strList = (v: unknown, key: string): string[] => {
        if (v === undefined) return [];
        if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.map((x: string) => x.trim());
        bad(`${key} must be a list of strings (got ${show(v)})`);
        return [];
    };

    // hostname and domains
    const hostname = str(raw.hostname, "hostname", "the box's fully qualified name, e.g. box.example.com")?.toLowerCase();
    if (hostname !== undefined && !isFqdn(hostname)) {
        bad(`hostname must be a fully qualified domain name such as box.example.com (got ${show(hostname)})`);
    }

    const domains: DomainConfig[] = [];
    if (!Array.isArray(raw.domains) || raw.domains.length === 0) {
        bad(
            raw.domains === undefined
                ? "domains is required: the list of mail domains on the box, e.g. [example.com]"
                : `domains must be a non-empty list of domain names or {name, zoneId, web, davSrv} objects (got ${show(raw.domains)})`,
        );
    } else {
        raw.domains.forEach((d: unknown, i: number) => {
            const key = `domains[${i}]`;
            const o: Obj = isObj(d) ? d : { name: d };
            const name = typeof o.name === "string" ? o.name.trim().toLowerCase() : undefined;
            if (name === undefined || !isFqdn(name)) {
                bad(`${key} must be a domain name such as example.com, or an object with one in "name" (got ${show(d)})`);
                return;
            }
            if (domains.some((x) => x.name === name)) {
                bad(`${key}: domain ${name} is listed twice; list each domain once`);
                return;
            }
            const zoneId = optStr(o.zoneId, `${key}.zoneId`);
            if (zoneId !== undefined && !/^[0-9a-f]{32}$/.test(zoneId)) {
                bad(`${key}.zoneId must be a Cloudflare zone id (32 hex characters) (got ${show(zoneId)})`);
            }
            domains.push({
                name,
                zoneId,
                web: bool(o.web, `${key}.web`, true),
                davSrv: bool(o.davSrv, `${key}.davSrv`, true),
            });
        });
    }
    if (hostname !== undefined && isFqdn(hostname) && domains.length > 0 && !domains.some((d) => isWithin(hostname, d.name))) {
        bad(`hostname ${hostname} must lie in one of the domains (${domains.map((d) => d.name).join(", ")})`);
    }

    // phase
    let phase: Phase = "prepare";
    if (typeof raw.phase !== "string" || !isPhase(raw.phase)) {
        bad(`phase must be one of ${PHASES.join(", ")} (got ${show(raw.phase)})`);
    } else {
        phase = raw.phase;
    }

    // transfer
    let transfer: TransferMethod = "rsync";
    if (raw.transfer !== undefined && !(TRANSFER_METHODS as readonly unknown[]).includes(raw.transfer)) {
        bad(`transfer must be one of ${TRANSFER_METHODS.join(", ")} (got ${show(raw.transfer)})`);
    } else if (raw.transfer !== undefined) {
        transfer = raw.transfer as TransferMethod;
    }
    const precopy = bool(raw.precopy, "precopy", true);

    // A missing object is one problem, not one per key inside it.
    const section = (v: unknown, key: string): [Obj, () => void] => {
        const missing = v === undefined;
        const o = obj(v, key);
        const mark = problems.length;
        return [o, () => void (missing && problems.splice(mark))];
    };

    // dns
    const [dnsRaw, endDns] = section(raw.dns, "dns");
    const ttl = int(dnsRaw.ttl, "dns.ttl", 86400, MIN_TTL, MAX_TTL, "seconds");
    const previousTtl = int(dnsRaw.previousTtl, "dns.previousTtl", MAX_TTL, MIN_TTL, 7 * MAX_TTL, "seconds");
    if (dnsRaw.ttl === undefined) bad(`dns.ttl is required: seconds between ${MIN_TTL} and ${MAX_TTL}, e.g. 300 during the migration`);
    let target: "old" | "new" = "old";
    if (dnsRaw.target !== "old" && dnsRaw.target !== "new") {
        bad(`dns.target must be old or new (got ${show(dnsRaw.target)})`);
    } else if (dnsRaw.target === "new" && typeof raw.phase === "string" && isPhase(raw.phase) && !mayTargetNewBox(raw.phase)) {
        bad(`dns.target new is refused before phase cutover (phase is ${raw.phase}); keep dns.target old`);
    } else {
        target = dnsRaw.target;
    }
    const dkimRaw = str(
        dnsRaw.dkim,
        "dns.dkim",
        "the DKIM record of the old box: the output of `cat /home/user-data/mail/dkim/mail.txt` run on it",
    );
    const dkim = dkimRaw === undefined ? "" : normalizeDkim(dkimRaw);
    if (dkimRaw !== undefined && !/^v=DKIM1;.*\bp=[A-Za-z0-9+/]+={0,2}$/.test(dkim)) {
        bad(
            "dns.dkim must be the DKIM record from the old box's /home/user-data/mail/dkim/mail.txt " +
                `(either that file's content or its joined value \"v=DKIM1; ... p=...\") (got ${show(dkimRaw.slice(0, 40))}...)`,
        );
    }
    const custom: CustomRecord[] = [];
    if (dnsRaw.custom !== undefined && !Array.isArray(dnsRaw.custom)) {
        bad(`dns.custom must be a list of {name, type, content} records (got ${show(dnsRaw.custom)})`);
    }
    (Array.isArray(dnsRaw.custom) ? dnsRaw.custom : []).forEach((r: unknown, i: number) => {
        const key = `dns.custom[${i}]`;
        const o = isObj(r) ? r : {};
        const name = typeof o.name === "string" ? o.name.trim().toLowerCase() : "";
        const type = typeof o.type === "string" ? o.type.toUpperCase() : "";
        const content = typeof o.content === "string" ? o.content.trim() : "";
        if (!isFqdn(name.replace(/^_/, "x").replace(/\._/g, ".x")) || !domains.some((d) => isWithin(name, d.name))) {
            bad(`${key}.name must be a fully qualified name inside one of the domains (got ${show(o.name)})`);
            return;
        }
        if (!(CUSTOM_RECORD_TYPES as readonly string[]).includes(type)) {
            bad(`${key}.type must be one of ${CUSTOM_RECORD_TYPES.join(", ")} (got ${show(o.type)})`);
            return;
        }
        const ok =
            type === "A"
                ? content === "local" || isIPv4(content)
                : type === "AAAA"
                  ? content === "local" || isIPv6(content)
                  : type === "CNAME" || type === "MX"
                    ? isFqdn(content)
                    : content.length > 0;
        if (!ok) {
            bad(`${key}.content is not a valid ${type} value (got ${show(o.content)})`);
            return;
        }
        custom.push({
            name,
            type: type as CustomRecordType,
            // TXT text written as a zone file writes it ("part1" "part2") is the text itself.
            content: type === "TXT" && content.startsWith('"') ? joinQuotedStrings(content) : content,
            priority: type === "MX" ? int(o.priority, `${key}.priority`, 10, 0, 65535, "") : undefined,
        });
    });
    const adopt: Record<string, string> = {};
    if (dnsRaw.adopt !== undefined && !isObj(dnsRaw.adopt)) {
        bad(`dns.adopt must be a map from record key to "<zoneId>/<recordId>" (got ${show(dnsRaw.adopt)})`);
    }
    for (const [k, v] of Object.entries(isObj(dnsRaw.adopt) ? dnsRaw.adopt : {})) {
        if (typeof v !== "string" || !/^[0-9a-f]{32}\/[0-9a-f]{32}$/.test(v)) {
            bad(`dns.adopt["${k}"] must be "<zoneId>/<recordId>", two Cloudflare ids of 32 hex characters (got ${show(v)})`);
        } else {
            adopt[k] = v;
        }
    }

    endDns();

    // oldServer
    const [oldRaw, endOld] = section(raw.oldServer, "oldServer");
    const ipv4 = str(oldRaw.ipv4, "oldServer.ipv4", "the old box's public IPv4 address") ?? "";
    if (ipv4 !== "" && !isIPv4(ipv4)) bad(`oldServer.ipv4 must be an IPv4 address such as 203.0.113.10 (got ${show(ipv4)})`);
    const ipv6 = optStr(oldRaw.ipv6, "oldServer.ipv6");
    if (ipv6 !== undefined && !isIPv6(ipv6)) bad(`oldServer.ipv6 must be an IPv6 address such as 2001:db8::10 (got ${show(ipv6)})`);
    const sshUser = optStr(oldRaw.sshUser, "oldServer.sshUser") ?? "root";
    if (!/^[a-z_][a-z0-9_-]*$/.test(sshUser)) bad(`oldServer.sshUser must be a Unix user name (got ${show(sshUser)})`);
    const sshPort = int(oldRaw.sshPort, "oldServer.sshPort", 22, 1, 65535, "");
    const hostKey =
        str(oldRaw.hostKey, "oldServer.hostKey", "the old box's host key: `cat /etc/ssh/ssh_host_ed25519_key.pub` run on it") ?? "";
    if (hostKey !== "" && !isSshPublicKey(hostKey)) {
        bad(`oldServer.hostKey must be an OpenSSH public key line such as "ssh-ed25519 AAAA..." (got ${show(hostKey.slice(0, 30))})`);
    }

    endOld();

    // newServer
    const [newRaw, endNew] = section(raw.newServer, "newServer");
    const region = str(newRaw.region, "newServer.region", `one of ${DO_REGIONS.join(", ")}`) ?? "";
    if (region !== "" && !(DO_REGIONS as readonly string[]).includes(region)) {
        bad(`newServer.region must be one of ${DO_REGIONS.join(", ")} (got ${show(region)})`);
    }
    const size = str(newRaw.size, "newServer.size", "a droplet size slug with at least 1 GB of memory, e.g. s-1vcpu-2gb") ?? "";
    if (size !== "" && !/^[a-z0-9][a-z0-9-]*$/.test(size))
        bad(`newServer.size must be a droplet size slug such as s-1vcpu-2gb (got ${show(size)})`);
    const image = optStr(newRaw.image, "newServer.image") ?? SUPPORTED_IMAGE;
    if (image !== SUPPORTED_IMAGE) {
        bad(
            `newServer.image must be ${SUPPORTED_IMAGE} (Ubuntu 22.04, the only release Mail-in-a-Box v75 installs on) (got ${show(image)})`,
        );
    }
    const adminCidrs = strList(newRaw.adminCidrs, "newServer.adminCidrs");
    for (const c of adminCidrs) {
        if (!isCidr(c)) bad(`newServer.adminCidrs: ${show(c)} is not a CIDR block such as 198.51.100.7/32 or 2001:db8::/48`);
    }
    const sshKeys = strList(newRaw.sshKeys, "newServer.sshKeys");
    if (sshKeys.length === 0) {
        bad(
            "newServer.sshKeys must list at least one DigitalOcean SSH key id or fingerprint " +
                "(without one DigitalOcean mails a root password and enables password login)",
        );
    }
    for (const k of sshKeys) {
        if (!/^\d+$/.test(k) && !/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/.test(k)) {
            bad(`newServer.sshKeys: ${show(k)} is neither a DigitalOcean SSH key id (digits) nor an MD5 fingerprint (aa:bb:...)`);
        }
    }
    const miabTag = optStr(newRaw.miabTag, "newServer.miabTag") ?? "v75";
    if (!/^v\d+(\.\d+)*[a-z]?$/.test(miabTag))
        bad(`newServer.miabTag must be a Mail-in-a-Box release tag such as v75 (got ${show(miabTag)})`);
    const adminEmail = optStr(newRaw.adminEmail, "newServer.adminEmail") ?? `admin@${hostname}`;
    const at = adminEmail.lastIndexOf("@");
    if (
        newRaw.adminEmail !== undefined &&
        (at < 1 || !isFqdn(adminEmail.slice(at + 1)) || !/^[A-Za-z0-9._%+-]+$/.test(adminEmail.slice(0, at)))
    ) {
        bad(`newServer.adminEmail must be an email address such as admin@${hostname ?? "box.example.com"} (got ${show(adminEmail)})`);
    }

    const protect = bool(newRaw.protect, "newServer.protect", true);
    const installTimeoutMinutes = int(newRaw.installTimeoutMinutes, "newServer.installTimeoutMinutes", 90, 10, 600, "minutes");
    endNew();

    // cutover and decommission: optional sections
    const cutoverRaw = raw.cutover === undefined ? {} : obj(raw.cutover, "cutover");
    const acceptFailedChecks = optStr(cutoverRaw.acceptFailedChecks, "cutover.acceptFailedChecks");
    if (acceptFailedChecks !== undefined && acceptFailedChecks.length < 10) {
        bad(
            `cutover.acceptFailedChecks must say why the failed checks are acceptable, in at least 10 characters (got ${show(acceptFailedChecks)})`,
        );
    }
    const decoRaw = raw.decommission === undefined ? {} : obj(raw.decommission, "decommission");
    const afterDays = int(decoRaw.afterDays, "decommission.afterDays", 7, 1, 365, "days");
    const archive = bool(decoRaw.archive, "decommission.archive", false);

    if (!raw.hasSshPrivateKey) {
        bad(
            "sshPrivateKey is required: pulumi config set --secret sshPrivateKey < ~/.ssh/miab-migrate (an OpenSSH private key without passphrase)",
        );
    }

    if (problems.length === 0) {
        const planned = planRecords({ hostname: hostname as string, domains, dkim, custom });
        problems.push(...customConflicts(planned));
        for (const k of Object.keys(adopt)) {
            if (!planned.some((r) => r.key === k)) {
                bad(`dns.adopt["${k}"]: no managed record has that key; keys are "<TYPE> <name>" as listed in the records output`);
            }
        }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return {
        hostname: hostname as string,
        domains,
        phase,
        transfer,
        precopy,
        dns: { ttl, previousTtl, target, dkim, custom, adopt },
        oldServer: { ipv4, ipv6, sshUser, sshPort, hostKey: hostKey.trim() },
        newServer: {
            region,
            size,
            image,
            adminCidrs,
            sshKeys,
            protect,
            miabTag,
            adminEmail,
            installTimeoutMinutes,
        },
        cutover: { acceptFailedChecks },
        decommission: { afterDays, archive },
    };
}
