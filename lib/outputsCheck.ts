/**
 * Checks a deployed stack's outputs against its configuration: run by CI after every
 * `pulumi up`, before the next stack is promoted. Pure.
 */
import type { MigrationConfig } from "./config";
import { hasNewBox } from "./phases";

export interface StackOutputs {
    readonly currentPhase?: string;
    readonly dnsAdoption?: string;
    readonly dnsTarget?: string;
    readonly dnsRecords?: readonly { name: string; type: string; content: string; ttl: number }[];
    readonly newIpv4?: string;
    readonly newIpv6?: string;
    readonly expectedPtr?: readonly { address: string; ptr: string }[];
}

/** Problems, one line each; empty when the stack is what its configuration says. */
export function checkOutputs(config: MigrationConfig, out: StackOutputs): string[] {
    const problems: string[] = [];
    if (!out.currentPhase?.startsWith(`${config.phase}:`)) {
        problems.push(`currentPhase is ${JSON.stringify(out.currentPhase)}, the configuration says ${config.phase}`);
    }
    if (!out.dnsAdoption?.startsWith("no record in the zones would be duplicated")) {
        problems.push(`dnsAdoption is ${JSON.stringify(out.dnsAdoption)}`);
    }
    if (out.dnsTarget !== config.dns.target) problems.push(`dnsTarget is ${out.dnsTarget}, the configuration says ${config.dns.target}`);
    const records = out.dnsRecords ?? [];
    if (records.length === 0) problems.push("dnsRecords is empty");
    const target =
        config.dns.target === "new" ? { A: out.newIpv4, AAAA: out.newIpv6 } : { A: config.oldServer.ipv4, AAAA: config.oldServer.ipv6 };
    for (const r of records) {
        if (r.ttl !== config.dns.ttl) problems.push(`${r.type} ${r.name} has TTL ${r.ttl}, dns.ttl is ${config.dns.ttl}`);
        const want = r.type === "A" || r.type === "AAAA" ? target[r.type] : undefined;
        const custom = config.dns.custom.some((c) => c.name === r.name && c.type === r.type && c.content !== "local");
        if (want !== undefined && !custom && r.content !== want) {
            problems.push(`${r.type} ${r.name} points at ${r.content}, dns.target ${config.dns.target} is ${want}`);
        }
    }
    if (hasNewBox(config.phase)) {
        if (!out.newIpv4 || !out.newIpv6) problems.push("newIpv4/newIpv6 missing although the phase has a new box");
        const ptr = out.expectedPtr ?? [];
        if (ptr.length !== 2 || ptr.some((p) => p.ptr !== config.hostname)) {
            problems.push(`expectedPtr should name ${config.hostname} for both addresses (got ${JSON.stringify(ptr)})`);
        }
    }
    return problems;
}
