import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DomainConfig } from "../lib/config";
import { type PlannedRecord, planRecords, zoneOf } from "../lib/records";

const d = (name: string, more: Partial<DomainConfig> = {}): DomainConfig => ({ name, web: true, davSrv: true, ...more });

/** One line per record: zone | TYPE name content, addresses as <ipv4>/<ipv6>. */
function lines(records: PlannedRecord[]): string[] {
    return records.map((r) => {
        const value = r.address
            ? `<${r.address}>`
            : r.srv
              ? `${r.srv.priority} ${r.srv.weight} ${r.srv.port} ${r.srv.target}`
              : `${r.priority !== undefined ? `${r.priority} ` : ""}${r.content}`;
        return `${r.zone} | ${r.type} ${r.name} ${value}`;
    });
}

const noMail = (zone: string, name: string) => [
    `${zone} | MX ${name} 0 .`,
    `${zone} | TXT ${name} v=spf1 -all`,
    `${zone} | TXT _dmarc.${name} v=DMARC1; p=reject;`,
];
const addr = (zone: string, name: string) => [`${zone} | A ${name} <ipv4>`, `${zone} | AAAA ${name} <ipv6>`];
const mail = (zone: string, name: string) => [
    `${zone} | MX ${name} 10 box.example.com`,
    `${zone} | TXT ${name} v=spf1 mx -all`,
    `${zone} | TXT mail._domainkey.${name} v=DKIM1; p=KEY`,
    `${zone} | TXT _dmarc.${name} v=DMARC1; p=quarantine;`,
];
const services = (zone: string, name: string) =>
    ["autoconfig", "autodiscover", "mta-sts"].flatMap((s) => [...addr(zone, `${s}.${name}`), ...noMail(zone, `${s}.${name}`)]);
const dav = (zone: string, name: string) => [
    `${zone} | SRV _caldavs._tcp.${name} 0 0 443 box.example.com`,
    `${zone} | SRV _carddavs._tcp.${name} 0 0 443 box.example.com`,
];

describe("planRecords mirrors Mail-in-a-Box's External DNS page", () => {
    it("for the box and one domain", () => {
        const plan = planRecords({ hostname: "box.example.com", domains: [d("example.com")], dkim: "v=DKIM1; p=KEY", custom: [] });
        assert.deepEqual(lines(plan), [
            ...addr("example.com", "box.example.com"),
            ...mail("example.com", "box.example.com"),
            ...services("example.com", "box.example.com"),
            ...addr("example.com", "example.com"),
            ...addr("example.com", "www.example.com"),
            ...noMail("example.com", "www.example.com"),
            ...mail("example.com", "example.com"),
            ...services("example.com", "example.com"),
            ...dav("example.com", "example.com"),
        ]);
        assert.equal(new Set(plan.map((r) => r.key)).size, plan.length, "record keys are unique");
        assert.equal(plan.find((r) => r.type === "MX" && r.name === "example.com")?.key, "MX example.com");
    });

    it("leaves the website alone with web: false, skips DAV SRV with davSrv: false, gives subdomains no www", () => {
        const plan = planRecords({
            hostname: "box.example.com",
            domains: [d("example.com"), d("example.org", { web: false, davSrv: false }), d("lists.example.com")],
            dkim: "v=DKIM1; p=KEY",
            custom: [],
        });
        const l = lines(plan);
        assert.ok(!l.some((x) => / (www\.)?example\.org <ipv/.test(x)), "no address for example.org or www.example.org");
        assert.ok(!l.some((x) => x.includes("_caldavs._tcp.example.org")));
        assert.ok(l.includes("example.org | MX example.org 10 box.example.com"));
        assert.ok(l.includes("lists.example.com | A lists.example.com <ipv4>"));
        assert.ok(!l.some((x) => x.includes("www.lists.example.com")), "no www for a subdomain of another domain");
        assert.deepEqual(
            l.filter((x) => x.includes(" www.")),
            [
                "example.com | A www.example.com <ipv4>",
                "example.com | AAAA www.example.com <ipv6>",
                "example.com | MX www.example.com 0 .",
                "example.com | TXT www.example.com v=spf1 -all",
            ],
        );
    });

    it("adds custom records, with `local` following the target box", () => {
        const plan = planRecords({
            hostname: "box.example.com",
            domains: [d("example.com")],
            dkim: "v=DKIM1; p=KEY",
            custom: [
                { name: "wiki.example.com", type: "A", content: "local" },
                { name: "example.com", type: "TXT", content: "google-site-verification=abc" },
            ],
        });
        const custom = plan.filter((r) => r.custom);
        assert.deepEqual(
            custom.map((r) => [r.key, r.zone, r.address, r.content]),
            [
                ["A wiki.example.com local", "example.com", "ipv4", undefined],
                ["TXT example.com google-site-verification=abc", "example.com", undefined, "google-site-verification=abc"],
            ],
        );
    });

    it("plans the hostname's records once when it is also listed as a domain", () => {
        const input = { hostname: "box.example.com", dkim: "v=DKIM1; p=KEY", custom: [] };
        const implicit = planRecords({ ...input, domains: [d("example.com")] });
        const explicit = planRecords({ ...input, domains: [d("example.com"), d("box.example.com")] });
        // Same records; those under the hostname now belong to its own entry (whose zone is example.com's).
        const rezoned = lines(implicit).map((l) =>
            /box\.example\.com <|box\.example\.com [^<]/.test(l.split(" | ")[1]) ? l.replace(/^example\.com/, "box.example.com") : l,
        );
        assert.deepEqual(lines(explicit).sort(), rezoned.sort());
    });

    it("puts a record in the zone of the longest domain it lies in", () => {
        const domains = [d("example.com"), d("mail.example.com")];
        assert.equal(zoneOf("box.mail.example.com", domains), "mail.example.com");
        assert.equal(zoneOf("www.example.com", domains), "example.com");
        assert.equal(zoneOf("example.net", domains), undefined);
    });
});
