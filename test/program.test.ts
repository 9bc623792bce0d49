/** The whole program under Pulumi's mock runtime: exact inputs of what `pulumi up` would create. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { sha256 } from "../lib/scripts";
import { MOCK } from "./harness/mock-values";
import { type Evaluation, ROOT, ZONES, byType, evaluate, one, stackConfig, withKey } from "./harness/program";

const DROPLET = "digitalocean:index/droplet:Droplet";
const FIREWALL = "digitalocean:index/firewall:Firewall";
const COMMAND = "command:remote:Command";
const RECORD = "cloudflare:index/dnsRecord:DnsRecord";
const SCRIPT = readFileSync(path.join(ROOT, "scripts", "install-miab.sh"), "utf8");

const staging = () => withKey(stackConfig("staging"), "phase", "provision");
const prod = () => withKey(stackConfig("prod"), "phase", "provision");

describe("provision on staging", () => {
    let ev: Evaluation;
    before(() => {
        ev = evaluate(staging());
        assert.equal(ev.error, undefined);
    });

    it("creates one droplet named after the hostname, IPv6 and monitoring on, Ubuntu 22.04", () => {
        const droplets = byType(ev, DROPLET);
        assert.equal(droplets.length, 1);
        const { userData, ...inputs } = droplets[0].inputs;
        assert.deepEqual(inputs, {
            name: "box.miab-staging.example",
            region: "fra1",
            size: "s-1vcpu-2gb",
            image: "ubuntu-22-04-x64",
            ipv6: true,
            monitoring: true,
            sshKeys: ["11111111"],
            tags: ["miab-migrate"],
        });
        assert.equal(
            userData,
            [
                "#cloud-config",
                "# miab-migrate: SSH host key pinned by the Pulumi stack; no other host key types.",
                "ssh_deletekeys: true",
                "ssh_genkeytypes: []",
                "ssh_keys:",
                "  ed25519_private: |",
                "    -----BEGIN OPENSSH PRIVATE KEY-----",
                "    bW9jayBob3N0IGtleQ==",
                "    -----END OPENSSH PRIVATE KEY-----",
                `  ed25519_public: ${MOCK.hostKeyPublic}`,
                "ssh_authorized_keys:",
                `  - ${MOCK.authorizedKey}`,
                "",
            ].join("\n"),
        );
        assert.deepEqual(ev.options["new-box-droplet"].ignoreChanges, ["userData", "sshKeys"]);
        assert.equal(ev.options["new-box-droplet"].protect, false, "staging sets newServer.protect: false");
    });

    it("owns an ed25519 host key for the box", () => {
        assert.deepEqual(one(ev, "new-box-host-key").inputs, { algorithm: "ED25519" });
    });

    it("puts the droplet behind a firewall with exactly Mail-in-a-Box's ports, closed to strangers before cutover", () => {
        const fw = byType(ev, FIREWALL);
        assert.equal(fw.length, 1);
        const only = ["198.51.100.0/24", "198.51.100.20/32", "2001:db8:20::1/128"];
        const all = ["0.0.0.0/0", "::/0"];
        assert.deepEqual(fw[0].inputs, {
            name: "miab-box-miab-staging-example",
            dropletIds: [4242],
            inboundRules: [
                { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24"] },
                ...["tcp 25", "tcp 53", "udp 53", "tcp 80", "tcp 443", "tcp 465", "tcp 587", "tcp 993", "tcp 995", "tcp 4190"].map((p) => ({
                    protocol: p.split(" ")[0],
                    portRange: p.split(" ")[1],
                    sourceAddresses: only,
                })),
                { protocol: "icmp", sourceAddresses: all },
            ],
            outboundRules: [
                { protocol: "tcp", portRange: "1-65535", destinationAddresses: all },
                { protocol: "udp", portRange: "1-65535", destinationAddresses: all },
                { protocol: "icmp", destinationAddresses: all },
            ],
        });
    });

    it("uploads the install script byte for byte and runs it on the droplet's address with its pinned host key", () => {
        const [upload, install] = [one(ev, "miab-upload"), one(ev, "miab-install")];
        assert.deepEqual(
            byType(ev, COMMAND)
                .filter((c) => c.name.startsWith("miab-"))
                .map((c) => c.name),
            ["miab-upload", "miab-install"],
        );
        const connection = {
            host: MOCK.dropletIpv4,
            user: "root",
            port: 22,
            privateKey: stackConfig("staging").sshPrivateKey,
            hostKey: MOCK.hostKeyPublic,
            dialErrorLimit: 40,
            perDialTimeout: 15,
        };
        assert.deepEqual(upload.inputs, {
            connection,
            create: "umask 077 && mkdir -p /root/miab-migrate && cat > /root/miab-migrate/install-miab.sh.tmp && chmod 0700 /root/miab-migrate/install-miab.sh.tmp && mv -f /root/miab-migrate/install-miab.sh.tmp /root/miab-migrate/install-miab.sh",
            stdin: SCRIPT,
        });
        assert.deepEqual(install.inputs, {
            connection,
            create:
                "/root/miab-migrate/install-miab.sh --hostname box.miab-staging.example --public-ip 203.0.113.50 --public-ipv6 2001:db8:50::2 " +
                "--tag v75 --admin-email admin@box.miab-staging.example --timeout-seconds 5400",
            stdin: MOCK.password,
            triggers: [sha256(SCRIPT)],
            logging: "stdoutAndStderr",
        });
        assert.deepEqual(ev.options["miab-install"].dependsOn, ["miab-upload"]);
        assert.deepEqual(ev.options["miab-install"].customTimeouts, { create: "100m", update: "100m" });
    });

    it("keeps secrets secret: SSH key, admin password, host key in user data", () => {
        assert.deepEqual(ev.secretInputs["miab-install"].sort(), ["connection", "stdin"]);
        assert.deepEqual(ev.secretInputs["miab-upload"], ["connection"]);
        assert.deepEqual(ev.secretInputs["new-box-droplet"], ["userData"]);
        assert.deepEqual(ev.secretOutputs, ["adminPassword"]);
    });

    it("points every mail record at the old box, DNS-only, with the configured TTL", () => {
        const records = byType(ev, RECORD);
        assert.equal(records.length, 49);
        for (const r of records) {
            assert.equal(r.inputs.ttl, 300, r.name);
            assert.equal(r.inputs.proxied, false, r.name);
            assert.equal(r.inputs.zoneId, ZONES["miab-staging.example"], r.name);
            assert.equal(r.inputs.comment, "managed by miab-migrate (miab-migrate/staging)", r.name);
        }
        assert.deepEqual(one(ev, "dns-A-box.miab-staging.example").inputs, {
            zoneId: ZONES["miab-staging.example"],
            name: "box.miab-staging.example",
            type: "A",
            ttl: 300,
            proxied: false,
            comment: "managed by miab-migrate (miab-migrate/staging)",
            content: "198.51.100.20",
        });
        assert.equal(one(ev, "dns-AAAA-www.miab-staging.example").inputs.content, "2001:db8:20::1");
        assert.deepEqual(
            [one(ev, "dns-MX-miab-staging.example").inputs.content, one(ev, "dns-MX-miab-staging.example").inputs.priority],
            ["box.miab-staging.example", 10],
        );
        assert.deepEqual(one(ev, "dns-SRV-_caldavs._tcp.miab-staging.example").inputs.data, {
            priority: 0,
            weight: 0,
            port: 443,
            target: "box.miab-staging.example",
        });
        // TXT content goes to Cloudflare quoted, the form it keeps (longer values: test/txt.test.ts).
        assert.equal(one(ev, "dns-TXT-miab-staging.example").inputs.content, '"v=spf1 mx -all"');
        const dkim = /dkim: "(v=DKIM1;[^"]+)"/.exec(readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8"))?.[1];
        assert.equal(one(ev, "dns-TXT-mail._domainkey.miab-staging.example").inputs.content, `"${dkim}"`);
    });

    it("looks the zone up once and checks it for records that would be duplicated", () => {
        assert.deepEqual(ev.invokes.map((i) => i.token).sort(), [
            "cloudflare:index/getDnsRecords:getDnsRecords",
            "cloudflare:index/getZone:getZone",
            "digitalocean:index/getSizes:getSizes",
            "tls:index/getPublicKey:getPublicKey",
        ]);
        assert.equal(ev.outputs.dnsAdoption, "no record in the zones would be duplicated (49 managed)");
    });

    it("exports what the user needs next", () => {
        assert.equal(ev.outputs.newIpv4, MOCK.dropletIpv4);
        assert.equal(ev.outputs.newIpv6, MOCK.dropletIpv6);
        assert.deepEqual(ev.outputs.expectedPtr, [
            { address: MOCK.dropletIpv4, ptr: "box.miab-staging.example" },
            { address: MOCK.dropletIpv6, ptr: "box.miab-staging.example" },
        ]);
        assert.equal(ev.outputs.adminUrl, `https://${MOCK.dropletIpv4}/admin`);
        assert.equal(ev.outputs.adminEmail, "admin@box.miab-staging.example");
        assert.equal(ev.outputs.newHostKey, MOCK.hostKeyPublic);
        assert.equal(
            ev.outputs.nextPhase,
            "freeze: old box stops taking mail; final transfer. Run: pulumi config set phase freeze && pulumi preview && pulumi up",
        );
        const table = ev.outputs.dnsRecords as { name: string; type: string; content: string; ttl: number }[];
        assert.equal(table.length, 49);
        assert.deepEqual(table[0], { name: "box.miab-staging.example", type: "A", content: "198.51.100.20", ttl: 300, purpose: "the box" });
    });
});

describe("prepare creates nothing new", () => {
    it("manages DNS and only reads the old box: no droplet, firewall or key", () => {
        const ev = evaluate(stackConfig("staging"));
        assert.equal(ev.error, undefined);
        const types = [...new Set(ev.resources.map((r) => r.type))].sort();
        assert.deepEqual(types, [
            "cloudflare:index/dnsRecord:DnsRecord",
            "command:local:Command",
            "command:remote:Command",
            "miab-migrate:index:MailDns",
            "miab-migrate:index:MigrationSteps",
            "miab-migrate:index:RemoteScripts",
            "pulumi:pulumi:Stack",
        ]);
        assert.deepEqual(
            byType(ev, "command:local:Command").map((c) => c.name),
            ["migration-ttl-changed"],
            "the only local command records the time",
        );
        for (const c of byType(ev, COMMAND)) {
            assert.equal((c.inputs.connection as { host: string }).host, "198.51.100.20", `${c.name} runs on the old box`);
        }
        assert.equal(ev.outputs.newIpv4, undefined);
        assert.equal(
            ev.outputs.nextPhase,
            "provision: new droplet, firewall and Mail-in-a-Box install; DNS still points at the old box. Run: pulumi config set phase provision && pulumi preview && pulumi up",
        );
    });
});

describe("preview of a new stack", () => {
    it("evaluates with the droplet's addresses still unknown", () => {
        const ev = evaluate(staging(), { preview: true });
        assert.equal(ev.error, undefined);
        const unknown = { __pulumiUnknown: true };
        assert.equal(byType(ev, DROPLET).length, 1);
        assert.deepEqual(one(ev, "new-box-firewall").inputs.dropletIds, [unknown]);
        assert.deepEqual(one(ev, "miab-install").inputs.create, unknown, "the command line waits for the droplet's addresses");
        assert.deepEqual(one(ev, "miab-install").inputs.connection, unknown);
        assert.equal(one(ev, "miab-upload").inputs.stdin, SCRIPT, "the preview shows the whole script");
        const records = byType(ev, RECORD);
        assert.equal(records.length, 49);
        assert.equal(one(ev, "dns-A-box.miab-staging.example").inputs.content, "198.51.100.20", "DNS still points at the old box");
    });
});

describe("provision on prod", () => {
    it("protects the droplet and its host key, and manages both domains' zones", () => {
        const ev = evaluate(prod(), { stack: "prod" });
        assert.equal(ev.error, undefined);
        assert.equal(ev.options["new-box-droplet"].protect, true);
        assert.equal(ev.options["new-box-host-key"].protect, true);
        const records = byType(ev, RECORD);
        assert.equal(records.length, 49 + 4 + 15 + 2, "example.org: mail records, autoconfig/autodiscover/mta-sts, DAV SRV; no web");
        assert.ok(!records.some((r) => r.name === "dns-A-example.org" || r.name === "dns-A-www.example.org"));
        assert.equal(one(ev, "dns-MX-example.org").inputs.zoneId, ZONES["example.org"]);
        assert.equal(one(ev, "dns-MX-example.org").inputs.content, "box.example.com");
        assert.ok(records.every((r) => r.inputs.ttl === 86400));
    });
});

/** Resources by name, without the stack. */
const named = (ev: Evaluation) => new Map(ev.resources.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => [r.name, r]));

/** Names of resources whose inputs differ, with the keys that differ. */
function differences(a: Evaluation, b: Evaluation): Record<string, string[]> {
    const [ma, mb] = [named(a), named(b)];
    assert.deepEqual([...ma.keys()].sort(), [...mb.keys()].sort(), "the same resources, none created or deleted");
    const out: Record<string, string[]> = {};
    for (const [name, ra] of ma) {
        const rb = mb.get(name)!;
        assert.equal(ra.type, rb.type);
        const keys = [...new Set([...Object.keys(ra.inputs), ...Object.keys(rb.inputs)])].filter(
            (k) => JSON.stringify(ra.inputs[k]) !== JSON.stringify(rb.inputs[k]),
        );
        if (keys.length > 0) out[name] = keys;
    }
    return out;
}

describe("TTL and target changes are in-place updates", () => {
    it("changing dns.ttl changes only the ttl of the same records, and re-records when it changed", () => {
        const high = evaluate(withKey(staging(), "dns.ttl", 86400));
        const low = evaluate(staging());
        const { "migration-ttl-changed": recorded, ...diff } = differences(high, low);
        const records = byType(low, RECORD).map((r) => r.name);
        assert.deepEqual(Object.keys(diff).sort(), [...records].sort());
        for (const keys of Object.values(diff)) assert.deepEqual(keys, ["ttl"]);
        assert.deepEqual(recorded, ["triggers"]);
    });

    it("changing the target changes only the content of address records", () => {
        const program = "test/fixtures/dns-target";
        const old = evaluate(withKey(stackConfig("staging"), "fixtureTarget", { ipv4: "198.51.100.20", ipv6: "2001:db8:20::1" }), {
            program,
        });
        const neu = evaluate(withKey(stackConfig("staging"), "fixtureTarget", { ipv4: MOCK.dropletIpv4, ipv6: MOCK.dropletIpv6 }), {
            program,
        });
        assert.equal(old.error, undefined);
        const diff = differences(old, neu);
        const addressRecords = byType(neu, RECORD).filter((r) => r.inputs.type === "A" || r.inputs.type === "AAAA");
        assert.equal(addressRecords.length, 18, "A and AAAA of the box, apex, www and three service names of each domain");
        assert.deepEqual(Object.keys(diff).sort(), addressRecords.map((r) => r.name).sort());
        for (const keys of Object.values(diff)) assert.deepEqual(keys, ["content"]);
        assert.equal(one(neu, "dns-AAAA-mta-sts.miab-staging.example").inputs.content, MOCK.dropletIpv6);
    });
});

describe("existing records are adopted, never duplicated", () => {
    const zone = ZONES["miab-staging.example"];
    const existing = {
        [zone]: [{ id: "e".repeat(32), name: "box.miab-staging.example", type: "A", content: "198.51.100.20", ttl: 86400, comment: "" }],
    };

    it("fails the run naming the record and the command that adopts it, creating no record", () => {
        const ev = evaluate(stackConfig("staging"), { existingRecords: existing });
        assert.deepEqual(byType(ev, RECORD), []);
        assert.equal(
            ev.error,
            "miab-migrate: records already in Cloudflare would be duplicated; nothing was changed:\n" +
                `  - A box.miab-staging.example already exists in Cloudflare (id ${"e".repeat(32)}, content "198.51.100.20", TTL 86400). ` +
                `Adopt it instead of adding a second one: pulumi config set --path 'dns.adopt["A box.miab-staging.example"]' ${zone}/${"e".repeat(32)}`,
        );
    });

    it("imports an adopted record into the resource that manages it", () => {
        const config = withKey(stackConfig("staging"), "dns.adopt", { "A box.miab-staging.example": `${zone}/${"e".repeat(32)}` });
        const ev = evaluate(config, { existingRecords: existing });
        assert.equal(ev.error, undefined);
        assert.equal(ev.options["dns-A-box.miab-staging.example"].import, `${zone}/${"e".repeat(32)}`);
        assert.equal(one(ev, "dns-A-box.miab-staging.example").id, `${zone}/${"e".repeat(32)}`);
        assert.equal(ev.options["dns-AAAA-box.miab-staging.example"].import, undefined);
    });
});

describe("bad configuration is refused before anything is created", () => {
    it("reports the problem and registers no resource", () => {
        const ev = evaluate(withKey(withKey(staging(), "dns.ttl", 30), "sshPrivateKey", undefined));
        assert.equal(
            ev.error,
            "miab-migrate: the stack configuration has 2 problem(s); nothing was changed:\n" +
                "  - dns.ttl must be between 60 and 86400 seconds (got 30)\n" +
                "  - sshPrivateKey is required: pulumi config set --secret sshPrivateKey < ~/.ssh/miab-migrate (an OpenSSH private key without passphrase)",
        );
        assert.deepEqual(
            ev.resources.map((r) => r.type),
            ["pulumi:pulumi:Stack"],
        );
    });
});
