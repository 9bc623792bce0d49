/**
 * The migration phase model. Each phase is one `pulumi up`; the order below is the
 * runbook's order, and moving `phase` back to an earlier value undoes the later phases.
 */

export const PHASES = ["prepare", "provision", "freeze", "restore", "verify", "cutover", "monitor", "decommission"] as const;

export type Phase = (typeof PHASES)[number];

/** What each phase does, in one line, for outputs and error messages. */
export const PHASE_SUMMARY: Record<Phase, string> = {
    prepare: "old box inventoried (read-only); DNS records adopted and their TTL lowered; nothing new is created",
    provision: "new droplet, firewall and Mail-in-a-Box install; DNS still points at the old box",
    freeze: "old box stops taking mail; final transfer",
    restore: "old box's data restored on the new box",
    verify: "old and new box compared",
    cutover: "DNS points at the new box; new box open to the world",
    monitor: "new box watched; backups configured",
    decommission: "old box's services stopped",
};

export function isPhase(value: string): value is Phase {
    return (PHASES as readonly string[]).includes(value);
}

export function phaseIndex(phase: Phase): number {
    return PHASES.indexOf(phase);
}

/** True when `phase` is `other` or comes after it. */
export function atLeast(phase: Phase, other: Phase): boolean {
    return phaseIndex(phase) >= phaseIndex(other);
}

/** The new droplet exists from `provision` on. */
export function hasNewBox(phase: Phase): boolean {
    return atLeast(phase, "provision");
}

/**
 * The new box's mail and web ports are open to the world only from `cutover` on;
 * before that, mail delivered to it would be overwritten by the restore
 * (Mail-in-a-Box #2534).
 */
export function newBoxOpenToWorld(phase: Phase): boolean {
    return atLeast(phase, "cutover");
}

/** DNS may point at the new box only from `cutover` on. */
export function mayTargetNewBox(phase: Phase): boolean {
    return atLeast(phase, "cutover");
}

/** The phase after `phase`, or undefined after the last one. */
export function nextPhase(phase: Phase): Phase | undefined {
    return PHASES[phaseIndex(phase) + 1];
}
