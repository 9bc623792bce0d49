/** The cutover's and the decommission's guards, as pure functions with a fixed clock. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cutoverProblems, decommissionProblems, parseTimestamp } from "../lib/guards";

const passed = { ok: true, failed: 0, checks: [] };
const now = new Date("2026-11-23T12:00:00Z");

describe("cutover guards", () => {
    it("passes exactly when the old TTL has run out", () => {
        const facts = { now, previousTtl: 3600, verification: passed };
        assert.deepEqual(cutoverProblems({ ...facts, ttlChangedAt: new Date("2026-11-23T11:00:00Z") }), []);
        assert.deepEqual(cutoverProblems({ ...facts, ttlChangedAt: new Date("2026-11-23T11:00:01Z") }), [
            "dns.ttl was changed at 2026-11-23T11:00:01Z; resolvers may hold the old records (dns.previousTtl 3600 s) until 2026-11-23T12:00:01Z: run the cutover after that",
        ]);
    });

    it("refuses a TTL change in the same update as the cutover", () => {
        assert.deepEqual(cutoverProblems({ now, previousTtl: 3600, verification: passed }), [
            "dns.ttl changes in this same update: lower it in an earlier update and wait dns.previousTtl seconds before the cutover",
        ]);
    });

    it("lists every failed check unless a reason is given", () => {
        const verification = {
            ok: false,
            failed: 2,
            checks: [
                { name: "users", ok: true, detail: "2 on both" },
                { name: "dkim", ok: false, detail: "the DKIM keys differ" },
                { name: "mailbox a@b INBOX", ok: false, detail: "3 messages on old, 2 on new" },
            ],
        };
        const facts = { now, previousTtl: 60, ttlChangedAt: new Date("2026-11-01T00:00:00Z"), verification };
        assert.deepEqual(cutoverProblems(facts), [
            "verify found 2 failed check(s): dkim: the DKIM keys differ; mailbox a@b INBOX: 3 messages on old, 2 on new. " +
                "Fix them and run verify again, or set cutover.acceptFailedChecks to the reason they are acceptable",
        ]);
        assert.deepEqual(cutoverProblems({ ...facts, acceptFailedChecks: "the key is rotated on purpose" }), []);
    });
});

describe("decommission guard", () => {
    it("waits decommission.afterDays after the cutover, to the second", () => {
        const cutoverAt = new Date("2026-11-16T12:00:00Z");
        assert.deepEqual(decommissionProblems({ now, cutoverAt, afterDays: 7 }), []);
        assert.deepEqual(decommissionProblems({ now, cutoverAt: new Date("2026-11-16T12:00:01Z"), afterDays: 7 }), [
            "the cutover was at 2026-11-16T12:00:01Z; decommission.afterDays is 7, so the old box is retired from 2026-11-23T12:00:01Z on: " +
                "mail from resolvers that ignore the TTL may still reach it until then",
        ]);
    });

    it("reads the recorded timestamps and nothing else", () => {
        assert.equal(parseTimestamp("2026-11-16T12:00:00Z\n")?.toISOString(), "2026-11-16T12:00:00.000Z");
        assert.equal(parseTimestamp("line1\nMail-in-a-Box"), undefined);
        assert.equal(parseTimestamp(undefined), undefined);
    });
});
