import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { AdoptionError, type ExistingRecord, unadoptedRecords } from "../lib/adoption";
import type { DomainConfig } from "../lib/config";
import type { PlannedRecord } from "../lib/records";
import { txtContent } from "../lib/txt";
import { isWithin } from "../lib/validate";

export interface MailDnsArgs {
    /** The record plan (lib/records.ts). */
    readonly records: readonly PlannedRecord[];
    /** The configured domains, for their Cloudflare zones. */
    readonly domains: readonly DomainConfig[];
    /** TTL of every record, 60..86400. */
    readonly ttl: number;
    /** Addresses of the box the address records point at; no AAAA records without ipv6. */
    readonly target: { readonly ipv4: pulumi.Input<string>; readonly ipv6?: pulumi.Input<string> };
    /** Record key -> `<zoneId>/<recordId>` of existing records to import; default none. */
    readonly adopt: Readonly<Record<string, string>>;
    /** Comment on every managed record; records carrying it are ours. */
    readonly marker: string;
}

export interface ManagedRecord {
    name: string;
    type: string;
    content: string;
    ttl: number;
    purpose: string;
}

/** Resource names derive from the record key only, never from TTL or content. */
function recordResourceName(component: string, key: string): string {
    return `${component}-${key.replace(/[^A-Za-z0-9._-]+/g, "-")}`;
}

/** The mail DNS records in Cloudflare: DNS-only, one TTL, addresses of the target box. */
export class MailDns extends pulumi.ComponentResource {
    /** The records as they will be in the zone. */
    public readonly table: pulumi.Output<ManagedRecord[]>;
    /** Resolves once no existing record would be duplicated; fails the run otherwise. */
    public readonly adoptionCheck: pulumi.Output<string>;

    constructor(name: string, args: MailDnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("miab-migrate:index:MailDns", name, {}, opts);

        const zoneIds = new Map<string, pulumi.Output<string>>();
        const zoneIdOf = (d: DomainConfig): pulumi.Output<string> => {
            let id = zoneIds.get(d.name);
            if (id === undefined) {
                // Its configured id, the zone of the domain it lies in, or a lookup by name.
                const parent = args.domains.find((o) => o !== d && isWithin(d.name, o.name));
                id = d.zoneId
                    ? pulumi.output(d.zoneId)
                    : parent
                      ? zoneIdOf(parent)
                      : cloudflare.getZoneOutput({ filter: { name: d.name } }, { parent: this }).zoneId;
                zoneIds.set(d.name, id);
            }
            return id;
        };
        args.domains.forEach(zoneIdOf);

        const records = args.records.filter((r) => !(r.address === "ipv6" && args.target.ipv6 === undefined));
        const checks = [...new Set(records.map((r) => r.zone))].map((zone) => {
            const zoneId = zoneIds.get(zone) as pulumi.Output<string>;
            const existing = cloudflare.getDnsRecordsOutput({ zoneId, maxItems: 5000 }, { parent: this });
            return pulumi.all([zoneId, existing]).apply(([id, found]) =>
                unadoptedRecords(
                    records.filter((r) => r.zone === zone),
                    found.results.map((e): ExistingRecord => ({
                        id: e.id,
                        name: e.name,
                        type: e.type,
                        content: e.content,
                        ttl: e.ttl,
                        comment: e.comment,
                    })),
                    args.adopt,
                    id,
                    args.marker,
                ),
            );
        });
        // Every record waits for this check: when it fails, no record in any zone is touched.
        this.adoptionCheck = pulumi.all(checks).apply((lists) => {
            const problems = lists.flat();
            if (problems.length > 0) throw new AdoptionError(problems);
            return `no record in the zones would be duplicated (${records.length} managed)`;
        });
        const table: pulumi.Output<ManagedRecord>[] = [];
        for (const r of records) {
            const content: pulumi.Input<string> | undefined =
                r.address === "ipv4" ? args.target.ipv4 : r.address === "ipv6" ? (args.target.ipv6 as pulumi.Input<string>) : r.content;
            // TXT goes to Cloudflare in the quoted form its API keeps; the table shows the text.
            const sent = r.type === "TXT" ? txtContent(r.content ?? "") : content;
            const adopt = args.adopt[r.key];
            new cloudflare.DnsRecord(
                recordResourceName(name, r.key),
                {
                    zoneId: pulumi.all([zoneIds.get(r.zone) as pulumi.Output<string>, this.adoptionCheck]).apply(([id]) => id),
                    name: r.name,
                    type: r.type,
                    ttl: args.ttl,
                    // DNS-only: mail, Let's Encrypt and SSH need the box's real address (Mail-in-a-Box #1235).
                    proxied: false,
                    comment: args.marker,
                    ...(r.type === "SRV" ? { data: r.srv } : { content: sent }),
                    ...(r.priority !== undefined ? { priority: r.priority } : {}),
                },
                { parent: this, ...(adopt ? { import: adopt } : {}) },
            );
            table.push(
                pulumi.output(content ?? "").apply((c) => ({
                    name: r.name,
                    type: r.type,
                    content: r.srv
                        ? `${r.srv.priority} ${r.srv.weight} ${r.srv.port} ${r.srv.target}`
                        : r.priority !== undefined
                          ? `${r.priority} ${c}`
                          : c,
                    ttl: args.ttl,
                    purpose: r.purpose,
                })),
            );
        }

        this.table = pulumi.all(table);
        this.registerOutputs({ table: this.table, adoptionCheck: this.adoptionCheck });
    }
}
