/**
 * The time and verification guards of `cutover` and `decommission`. Pure: the program
 * feeds them what the stack's state already holds (so `pulumi preview` applies them) and
 * the current time.
 */
import type { Verification } from "./inventory";

export interface CutoverFacts {
    readonly now: Date;
    /** When dns.ttl last changed (the program records it), or undefined when it changes in this update. */
    readonly ttlChangedAt?: Date;
    /** dns.previousTtl: the TTL resolvers may still hold. */
    readonly previousTtl: number;
    readonly verification: Verification;
    /** cutover.acceptFailedChecks: a reason to cut over despite failed checks. */
    readonly acceptFailedChecks?: string;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** What stands in the way of the cutover; empty when it may go ahead. */
export function cutoverProblems(f: CutoverFacts): string[] {
    const problems: string[] = [];
    if (f.ttlChangedAt === undefined) {
        problems.push(
            "dns.ttl changes in this same update: lower it in an earlier update and wait dns.previousTtl seconds before the cutover",
        );
    } else {
        const safe = new Date(f.ttlChangedAt.getTime() + f.previousTtl * 1000);
        if (f.now < safe) {
            problems.push(
                `dns.ttl was changed at ${iso(f.ttlChangedAt)}; resolvers may hold the old records (dns.previousTtl ${f.previousTtl} s) ` +
                    `until ${iso(safe)}: run the cutover after that`,
            );
        }
    }
    if (!f.verification.ok) {
        const failed = f.verification.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
        if (f.acceptFailedChecks === undefined) {
            problems.push(
                `verify found ${f.verification.failed} failed check(s): ${failed.join("; ")}. ` +
                    "Fix them and run verify again, or set cutover.acceptFailedChecks to the reason they are acceptable",
            );
        }
    }
    return problems;
}

export interface DecommissionFacts {
    readonly now: Date;
    readonly cutoverAt: Date;
    /** decommission.afterDays. */
    readonly afterDays: number;
}

export function decommissionProblems(f: DecommissionFacts): string[] {
    const allowed = new Date(f.cutoverAt.getTime() + f.afterDays * 86_400_000);
    return f.now < allowed
        ? [
              `the cutover was at ${iso(f.cutoverAt)}; decommission.afterDays is ${f.afterDays}, so the old box is retired ` +
                  `from ${iso(allowed)} on: mail from resolvers that ignore the TTL may still reach it until then`,
          ]
        : [];
}

/** A timestamp recorded by `date -u +%Y-%m-%dT%H:%M:%SZ`, or undefined when it is not known yet. */
export function parseTimestamp(text: string | undefined): Date | undefined {
    const t = text?.trim();
    if (!t || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(t)) return undefined;
    return new Date(t);
}
