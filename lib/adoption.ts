/**
 * The adoption guard. Cloudflare accepts several records of one type at one name, so
 * creating ours beside a record that is already in the zone would split mail between two
 * boxes. Every existing record that a planned record would sit beside must be adopted
 * (imported, `dns.adopt`) or removed first. Pure.
 */
import type { PlannedRecord } from "./records";
import { joinQuotedStrings, policyKind } from "./txt";

export interface ExistingRecord {
    readonly id: string;
    readonly name: string;
    readonly type: string;
    readonly content: string;
    readonly ttl: number;
    readonly comment?: string;
}

function clashes(planned: PlannedRecord, existing: ExistingRecord): boolean {
    if (existing.name.toLowerCase() !== planned.name) return false;
    if (existing.type === "CNAME" || planned.type === "CNAME") return true;
    if (existing.type !== planned.type) return false;
    if (planned.type !== "TXT") return true;
    // Other TXT records (site verifications...) live beside ours; only the same policy clashes.
    // Cloudflare returns TXT content quoted; compare the text itself.
    const text = joinQuotedStrings(existing.content);
    const kind = policyKind(planned.content ?? "");
    return kind !== undefined ? policyKind(text) === kind : text === planned.content;
}

/**
 * Problems, one per existing record that is neither ours (`comment === marker`) nor adopted,
 * each with the exact command that adopts it.
 */
export function unadoptedRecords(
    planned: readonly PlannedRecord[],
    existing: readonly ExistingRecord[],
    adopt: Readonly<Record<string, string>>,
    zoneId: string,
    marker: string,
): string[] {
    const adoptedIds = new Set(Object.values(adopt).map((v) => v.split("/")[1]));
    const problems: string[] = [];
    for (const e of existing) {
        if (e.comment === marker || adoptedIds.has(e.id)) continue;
        const p = planned.find((r) => clashes(r, e));
        if (!p) continue;
        const taken = adopt[p.key] !== undefined;
        problems.push(
            `${e.type} ${e.name} already exists in Cloudflare (id ${e.id}, content ${JSON.stringify(e.content)}, TTL ${e.ttl}). ` +
                (taken
                    ? `dns.adopt["${p.key}"] adopts another record: delete this one in Cloudflare if it is not the box's.`
                    : `Adopt it instead of adding a second one: pulumi config set --path 'dns.adopt["${p.key}"]' ${zoneId}/${e.id}`),
        );
    }
    return problems;
}

export class AdoptionError extends Error {
    constructor(problems: readonly string[]) {
        super(
            `miab-migrate: records already in Cloudflare would be duplicated; nothing was changed:\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "AdoptionError";
    }
}
