/**
 * The DNS record plan: what Mail-in-a-Box publishes on its "External DNS" page
 * (management/dns_update.py, build_zone), for a zone hosted at Cloudflare.
 *
 * Pure: addresses are left as placeholders (`address: "ipv4" | "ipv6"`) that the
 * MailDns component fills in with the box `dns.target` names. So the plan, and with it
 * every record's key and Pulumi name, does not depend on the TTL or the target: changing
 * either can only update records in place (test/program.test.ts proves it).
 *
 * Not planned (see README "What is not supported"): NS/ns1/ns2 glue (Cloudflare serves
 * the zone), TLSA and SSHFP (bound to the serving box's keys and meaningful only with
 * DNSSEC), `_mta-sts` and `_smtp._tls` (depend on the box's certificates); add any of them
 * through `dns.custom` if you publish them.
 */
import type { CustomRecord, DomainConfig } from "./config";
import { policyKind } from "./txt";
import { isWithin } from "./validate";

export type RecordType = "A" | "AAAA" | "CNAME" | "MX" | "TXT" | "SRV";

export interface PlannedRecord {
    /** Stable identity: `<TYPE> <name>`, plus the content for custom records. Used in `dns.adopt`. */
    readonly key: string;
    /** The configured domain whose Cloudflare zone holds the record. */
    readonly zone: string;
    readonly name: string;
    readonly type: RecordType;
    /** Literal content, or absent when `address` is set. */
    readonly content?: string;
    /** Address records: which address of the target box. */
    readonly address?: "ipv4" | "ipv6";
    /** MX preference. */
    readonly priority?: number;
    /** SRV data. */
    readonly srv?: { readonly priority: number; readonly weight: number; readonly port: number; readonly target: string };
    /** Why the record exists, shown in the records table output. */
    readonly purpose: string;
    /** From `dns.custom`. */
    readonly custom?: true;
}

export interface RecordPlanInput {
    readonly hostname: string;
    readonly domains: readonly DomainConfig[];
    /** Normalized DKIM TXT value. */
    readonly dkim: string;
    readonly custom: readonly CustomRecord[];
}

export const SPF = "v=spf1 mx -all";
export const DMARC = "v=DMARC1; p=quarantine;";
export const NO_MAIL_SPF = "v=spf1 -all";
export const NO_MAIL_DMARC = "v=DMARC1; p=reject;";

/** The configured domain whose zone holds `name`: the longest domain it lies in. */
export function zoneOf(name: string, domains: readonly DomainConfig[]): string | undefined {
    return domains
        .filter((d) => isWithin(name, d.name))
        .map((d) => d.name)
        .sort((a, b) => b.length - a.length)[0];
}

export function planRecords(input: RecordPlanInput): PlannedRecord[] {
    const { hostname, domains, dkim } = input;
    const records: PlannedRecord[] = [];
    const add = (r: Omit<PlannedRecord, "key" | "zone">) => {
        const zone = zoneOf(r.name, domains) as string;
        records.push({ ...r, zone, key: `${r.type} ${r.name}` });
    };
    const address = (name: string, purpose: string) => {
        add({ name, type: "A", address: "ipv4", purpose });
        add({ name, type: "AAAA", address: "ipv6", purpose });
    };
    // A name with an address but no mail gets Mail-in-a-Box's "no mail here" records.
    const noMail = (name: string) => {
        add({ name, type: "MX", content: ".", priority: 0, purpose: "null MX: no mail accepted for this name" });
        add({ name, type: "TXT", content: NO_MAIL_SPF, purpose: "SPF: no mail is sent from this name" });
        add({ name: `_dmarc.${name}`, type: "TXT", content: NO_MAIL_DMARC, purpose: "DMARC: no mail is sent from this name" });
    };
    const mail = (name: string) => {
        add({ name, type: "MX", content: hostname, priority: 10, purpose: `mail for @${name} is delivered to the box` });
        add({ name, type: "TXT", content: SPF, purpose: `SPF: only the box sends @${name} mail` });
        add({ name: `mail._domainkey.${name}`, type: "TXT", content: dkim, purpose: "DKIM public key (selector mail), from the old box" });
        add({ name: `_dmarc.${name}`, type: "TXT", content: DMARC, purpose: "DMARC policy" });
    };

    // The box itself. Its name is also a mail domain: Mail-in-a-Box's first-user setup
    // creates administrator@<hostname> (setup/firstuser.sh).
    address(hostname, "the box");
    const mailDomains = domains.some((d) => d.name === hostname) ? domains.map((d) => d.name) : [hostname, ...domains.map((d) => d.name)];
    for (const name of mailDomains) {
        const d = domains.find((x) => x.name === name);
        // Mail-in-a-Box gives "www." only to its zones, not to subdomains of another domain.
        const isZone = !mailDomains.some((o) => o !== name && isWithin(name, o));
        if (name !== hostname && (d?.web ?? true)) {
            address(name, "website of the domain (Mail-in-a-Box serves it)");
            if (isZone) {
                address(`www.${name}`, "redirect to the domain");
                noMail(`www.${name}`);
            }
        }
        mail(name);
        for (const sub of ["autoconfig", "autodiscover", "mta-sts"]) {
            address(`${sub}.${name}`, `${sub} service of the box`);
            noMail(`${sub}.${name}`);
        }
        if (name !== hostname && (d?.davSrv ?? true)) {
            for (const dav of ["_caldavs._tcp", "_carddavs._tcp"]) {
                add({
                    name: `${dav}.${name}`,
                    type: "SRV",
                    srv: { priority: 0, weight: 0, port: 443, target: hostname },
                    purpose: "CalDAV/CardDAV autoconfiguration",
                });
            }
        }
    }

    for (const c of input.custom) {
        const zone = zoneOf(c.name, domains) as string;
        const local = c.content === "local";
        records.push({
            key: `${c.type} ${c.name} ${c.content}`,
            zone,
            name: c.name,
            type: c.type,
            content: local ? undefined : c.content,
            address: local ? (c.type === "A" ? "ipv4" : "ipv6") : undefined,
            priority: c.priority,
            purpose: "custom record (dns.custom)",
            custom: true,
        });
    }
    return records;
}

/** Problems with custom records that would clash with the planned ones, for the config error. */
export function customConflicts(records: readonly PlannedRecord[]): string[] {
    const problems: string[] = [];
    const standard = records.filter((r) => !r.custom);
    for (const c of records.filter((r) => r.custom)) {
        const clash = standard.find(
            (s) =>
                s.name === c.name &&
                (s.type === c.type || c.type === "CNAME" || s.type === "CNAME") &&
                !(c.type === "TXT" && policyKind(c.content ?? "") === undefined),
        );
        if (clash) {
            problems.push(
                `dns.custom: ${c.type} ${c.name} clashes with the ${clash.type} record miab-migrate manages there (${clash.purpose}); remove it from dns.custom`,
            );
        }
    }
    return problems;
}
