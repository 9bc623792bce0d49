import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ExistingRecord, unadoptedRecords } from "../lib/adoption";
import { planRecords } from "../lib/records";

const ZONE = "c0000000000000000000000000000001";
const MARKER = "managed by miab-migrate (miab-migrate/prod)";
const plan = planRecords({
    hostname: "box.example.com",
    domains: [{ name: "example.com", web: true, davSrv: true }],
    dkim: "v=DKIM1; p=KEY",
    custom: [],
});
const rec = (id: string, type: string, name: string, content: string, comment?: string): ExistingRecord => ({
    id: id.padEnd(32, "0"),
    type,
    name,
    content,
    ttl: 86400,
    comment,
});

describe("the adoption guard", () => {
    it("refuses to add a second A record beside an existing one, and says how to adopt it", () => {
        const problems = unadoptedRecords(plan, [rec("a1", "A", "box.example.com", "203.0.113.10")], {}, ZONE, MARKER);
        assert.deepEqual(problems, [
            `A box.example.com already exists in Cloudflare (id ${"a1".padEnd(32, "0")}, content "203.0.113.10", TTL 86400). ` +
                `Adopt it instead of adding a second one: pulumi config set --path 'dns.adopt["A box.example.com"]' ${ZONE}/${"a1".padEnd(32, "0")}`,
        ]);
    });

    it("accepts adopted records and records it manages already", () => {
        const existing = [rec("a1", "A", "box.example.com", "203.0.113.10"), rec("m1", "MX", "example.com", "box.example.com", MARKER)];
        assert.deepEqual(unadoptedRecords(plan, existing, { "A box.example.com": `${ZONE}/${"a1".padEnd(32, "0")}` }, ZONE, MARKER), []);
    });

    it("reports a second record at an adopted name as one to delete", () => {
        const existing = [rec("a1", "A", "box.example.com", "203.0.113.10"), rec("a2", "A", "box.example.com", "203.0.113.99")];
        const problems = unadoptedRecords(plan, existing, { "A box.example.com": `${ZONE}/${"a1".padEnd(32, "0")}` }, ZONE, MARKER);
        assert.equal(problems.length, 1);
        assert.match(
            problems[0],
            /^A box\.example\.com already exists .*203\.0\.113\.99.*adopts another record: delete this one in Cloudflare if it is not the box's\.$/,
        );
    });

    it("treats a CNAME at a managed name as a clash", () => {
        const problems = unadoptedRecords(plan, [rec("c1", "CNAME", "www.example.com", "example.com")], {}, ZONE, MARKER);
        assert.match(problems[0], /^CNAME www\.example\.com already exists.*dns\.adopt\["A www\.example\.com"\]/);
    });

    it("lets unrelated TXT records live beside SPF, but not a second SPF", () => {
        const existing = [
            rec("t1", "TXT", "example.com", '"google-site-verification=abc"'),
            rec("t2", "TXT", "example.com", '"v=spf1 a mx ~all"'),
            rec("t3", "TXT", "other.example.com", '"v=spf1 -all"'),
        ];
        const problems = unadoptedRecords(plan, existing, {}, ZONE, MARKER);
        assert.equal(problems.length, 1);
        assert.match(problems[0], /^TXT example\.com already exists .*"\\"v=spf1 a mx ~all\\"".*dns\.adopt\["TXT example\.com"\]/);
    });
});
