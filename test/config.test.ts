import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, type RawConfig, normalizeDkim, parseConfig } from "../lib/config";

const DKIM = "v=DKIM1; h=sha256; k=rsa; s=email; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest";

function valid(): Record<string, unknown> {
    return {
        hostname: "box.example.com",
        domains: ["example.com", { name: "example.org", web: false }],
        phase: "prepare",
        dns: { ttl: 300, target: "old", dkim: DKIM },
        oldServer: { ipv4: "198.51.100.10", ipv6: "2001:db8::10", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld" },
        newServer: { region: "fra1", size: "s-1vcpu-2gb", sshKeys: ["12345"], adminCidrs: ["198.51.100.7/32"] },
        hasSshPrivateKey: true,
    };
}

function set(key: string, value: unknown): RawConfig {
    const c = structuredClone(valid());
    const parts = key.split(".");
    let o = c as Record<string, unknown>;
    for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
    if (value === undefined) delete o[parts[parts.length - 1]];
    else o[parts[parts.length - 1]] = value;
    return c as unknown as RawConfig;
}

/** The problems parseConfig reports for `raw`; fails if it accepts it. */
function problems(raw: RawConfig): readonly string[] {
    try {
        parseConfig(raw);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
        return e.problems;
    }
    assert.fail("the configuration was accepted");
}

function refuses(raw: RawConfig, expected: string) {
    assert.deepEqual(problems(raw), [expected]);
}

describe("parseConfig accepts a valid configuration", () => {
    it("with defaults filled in", () => {
        const c = parseConfig(valid() as unknown as RawConfig);
        assert.equal(c.hostname, "box.example.com");
        assert.deepEqual(c.domains, [
            { name: "example.com", zoneId: undefined, web: true, davSrv: true },
            { name: "example.org", zoneId: undefined, web: false, davSrv: true },
        ]);
        assert.deepEqual(c.oldServer, {
            ipv4: "198.51.100.10",
            ipv6: "2001:db8::10",
            sshUser: "root",
            sshPort: 22,
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld",
        });
        assert.deepEqual(c.newServer, {
            region: "fra1",
            size: "s-1vcpu-2gb",
            image: "ubuntu-22-04-x64",
            adminCidrs: ["198.51.100.7/32"],
            sshKeys: ["12345"],
            protect: true,
            miabTag: "v75",
            adminEmail: "admin@box.example.com",
            installTimeoutMinutes: 90,
        });
        assert.deepEqual(c.dns, { ttl: 300, previousTtl: 86400, target: "old", dkim: DKIM, custom: [], adopt: {} });
        assert.equal(c.transfer, "rsync");
        assert.equal(parseConfig(set("transfer", "backup")).transfer, "backup");
        assert.equal(c.precopy, true);
        assert.deepEqual(c.cutover, { acceptFailedChecks: undefined });
        assert.deepEqual(c.decommission, { afterDays: 7, archive: false });
    });

    it("joins the quoted strings of OpenDKIM's mail.txt", () => {
        const file = `mail._domainkey\tIN\tTXT\t( "v=DKIM1; h=sha256; k=rsa; s=email; "\n\t  "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAte"\n\t  "st" )  ; ----- DKIM key mail for box.example.com\n`;
        assert.equal(normalizeDkim(file), DKIM);
        assert.equal(parseConfig(set("dns.dkim", file)).dns.dkim, DKIM);
    });

    it("reads custom TXT content written as zone-file strings as the text it stands for", () => {
        const c = parseConfig(
            set("dns.custom", [
                { name: "x.example.com", type: "TXT", content: '"google-site-verification=" "abc"' },
                { name: "y.example.com", type: "TXT", content: 'say "hi"' },
            ]),
        );
        assert.deepEqual(
            c.dns.custom.map((r) => r.content),
            ["google-site-verification=abc", 'say "hi"'],
        );
    });

    it("reports every problem at once", () => {
        const p = problems({ ...set("dns.ttl", 30), phase: "later", hasSshPrivateKey: false } as RawConfig);
        assert.equal(
            new ConfigError(p).message,
            [
                "miab-migrate: the stack configuration has 3 problem(s); nothing was changed:",
                '  - phase must be one of prepare, provision, freeze, restore, verify, cutover, monitor, decommission (got "later")',
                "  - dns.ttl must be between 60 and 86400 seconds (got 30)",
                "  - sshPrivateKey is required: pulumi config set --secret sshPrivateKey < ~/.ssh/miab-migrate (an OpenSSH private key without passphrase)",
            ].join("\n"),
        );
    });
});

describe("parseConfig refuses bad input, naming the key and the valid values", () => {
    const cases: [string, RawConfig, string][] = [
        ["missing hostname", set("hostname", undefined), "hostname is required: the box's fully qualified name, e.g. box.example.com"],
        [
            "hostname not an FQDN",
            set("hostname", "box"),
            'hostname must be a fully qualified domain name such as box.example.com (got "box")',
        ],
        [
            "hostname outside the domains",
            set("hostname", "box.example.net"),
            "hostname box.example.net must lie in one of the domains (example.com, example.org)",
        ],
        ["missing domains", set("domains", undefined), "domains is required: the list of mail domains on the box, e.g. [example.com]"],
        [
            "empty domains",
            set("domains", []),
            "domains must be a non-empty list of domain names or {name, zoneId, web, davSrv} objects (got [])",
        ],
        [
            "a bad domain",
            set("domains", ["example.com", "not a domain"]),
            'domains[1] must be a domain name such as example.com, or an object with one in "name" (got "not a domain")',
        ],
        [
            "a domain listed twice",
            set("domains", ["example.com", "Example.com"]),
            "domains[1]: domain example.com is listed twice; list each domain once",
        ],
        [
            "a bad zone id",
            set("domains", [{ name: "example.com", zoneId: "abc" }]),
            'domains[0].zoneId must be a Cloudflare zone id (32 hex characters) (got "abc")',
        ],
        ["a bad web flag", set("domains", [{ name: "example.com", web: "no" }]), 'domains[0].web must be true or false (got "no")'],
        [
            "unknown phase",
            set("phase", "migrate"),
            'phase must be one of prepare, provision, freeze, restore, verify, cutover, monitor, decommission (got "migrate")',
        ],
        ["previousTtl out of range", set("dns.previousTtl", 10), "dns.previousTtl must be between 60 and 604800 seconds (got 10)"],
        ["cutover not an object", set("cutover", "now"), 'cutover must be an object (got "now")'],
        [
            "a reason too short to accept failed checks",
            set("cutover", { acceptFailedChecks: "ok" }),
            'cutover.acceptFailedChecks must say why the failed checks are acceptable, in at least 10 characters (got "ok")',
        ],
        ["decommission too soon", set("decommission", { afterDays: 0 }), "decommission.afterDays must be between 1 and 365 days (got 0)"],
        ["a bad archive flag", set("decommission", { archive: "yes" }), 'decommission.archive must be true or false (got "yes")'],
        ["an unknown transfer method", set("transfer", "scp"), 'transfer must be one of rsync, backup (got "scp")'],
        ["a bad precopy flag", set("precopy", "maybe"), 'precopy must be true or false (got "maybe")'],
        ["ttl too low", set("dns.ttl", 30), "dns.ttl must be between 60 and 86400 seconds (got 30)"],
        ["ttl too high", set("dns.ttl", 86401), "dns.ttl must be between 60 and 86400 seconds (got 86401)"],
        ["ttl not a number", set("dns.ttl", "5m"), 'dns.ttl must be between 60 and 86400 seconds (got "5m")'],
        ["ttl missing", set("dns.ttl", undefined), "dns.ttl is required: seconds between 60 and 86400, e.g. 300 during the migration"],
        ["missing dns", set("dns", undefined), 'dns is required (an object; see README "Configuration")'],
        ["unknown target", set("dns.target", "both"), 'dns.target must be old or new (got "both")'],
        [
            "target new before cutover",
            set("dns.target", "new"),
            "dns.target new is refused before phase cutover (phase is prepare); keep dns.target old",
        ],
        [
            "missing DKIM",
            set("dns.dkim", undefined),
            "dns.dkim is required: the DKIM record of the old box: the output of `cat /home/user-data/mail/dkim/mail.txt` run on it",
        ],
        [
            "malformed DKIM",
            set("dns.dkim", "k=rsa; p=abc"),
            'dns.dkim must be the DKIM record from the old box\'s /home/user-data/mail/dkim/mail.txt (either that file\'s content or its joined value "v=DKIM1; ... p=...") (got "k=rsa; p=abc"...)',
        ],
        [
            "custom record outside the domains",
            set("dns.custom", [{ name: "x.example.net", type: "A", content: "local" }]),
            'dns.custom[0].name must be a fully qualified name inside one of the domains (got "x.example.net")',
        ],
        [
            "custom record of an unsupported type",
            set("dns.custom", [{ name: "x.example.com", type: "NS", content: "ns.example.net" }]),
            'dns.custom[0].type must be one of A, AAAA, CNAME, MX, TXT (got "NS")',
        ],
        [
            "custom A record with a bad address",
            set("dns.custom", [{ name: "x.example.com", type: "A", content: "2001:db8::1" }]),
            'dns.custom[0].content is not a valid A value (got "2001:db8::1")',
        ],
        [
            "custom record clashing with a managed one",
            set("dns.custom", [{ name: "example.com", type: "MX", content: "mx.example.net" }]),
            "dns.custom: MX example.com clashes with the MX record miab-migrate manages there (mail for @example.com is delivered to the box); remove it from dns.custom",
        ],
        [
            "custom SPF clashing with the managed one",
            set("dns.custom", [{ name: "example.com", type: "TXT", content: "v=spf1 include:example.net -all" }]),
            "dns.custom: TXT example.com clashes with the TXT record miab-migrate manages there (SPF: only the box sends @example.com mail); remove it from dns.custom",
        ],
        [
            "adopt id malformed",
            set("dns.adopt", { "A box.example.com": "1234" }),
            'dns.adopt["A box.example.com"] must be "<zoneId>/<recordId>", two Cloudflare ids of 32 hex characters (got "1234")',
        ],
        [
            "adopt key unknown",
            set("dns.adopt", { "A nope.example.com": `${"a".repeat(32)}/${"b".repeat(32)}` }),
            'dns.adopt["A nope.example.com"]: no managed record has that key; keys are "<TYPE> <name>" as listed in the records output',
        ],
        ["missing oldServer", set("oldServer", undefined), 'oldServer is required (an object; see README "Configuration")'],
        ["missing newServer", set("newServer", undefined), 'newServer is required (an object; see README "Configuration")'],
        ["missing old IPv4", set("oldServer.ipv4", undefined), "oldServer.ipv4 is required: the old box's public IPv4 address"],
        [
            "malformed old IPv4",
            set("oldServer.ipv4", "198.51.100.300"),
            'oldServer.ipv4 must be an IPv4 address such as 203.0.113.10 (got "198.51.100.300")',
        ],
        [
            "malformed old IPv6",
            set("oldServer.ipv6", "2001:db8::zz"),
            'oldServer.ipv6 must be an IPv6 address such as 2001:db8::10 (got "2001:db8::zz")',
        ],
        ["bad SSH port", set("oldServer.sshPort", 70000), "oldServer.sshPort must be between 1 and 65535  (got 70000)"],
        [
            "missing host key",
            set("oldServer.hostKey", undefined),
            "oldServer.hostKey is required: the old box's host key: `cat /etc/ssh/ssh_host_ed25519_key.pub` run on it",
        ],
        [
            "malformed host key",
            set("oldServer.hostKey", "AAAAC3Nza"),
            'oldServer.hostKey must be an OpenSSH public key line such as "ssh-ed25519 AAAA..." (got "AAAAC3Nza")',
        ],
        [
            "unknown region",
            set("newServer.region", "mars1"),
            'newServer.region must be one of ams3, atl1, blr1, fra1, lon1, nyc1, nyc2, nyc3, sfo2, sfo3, sgp1, syd1, tor1 (got "mars1")',
        ],
        [
            "another image",
            set("newServer.image", "ubuntu-24-04-x64"),
            'newServer.image must be ubuntu-22-04-x64 (Ubuntu 22.04, the only release Mail-in-a-Box v75 installs on) (got "ubuntu-24-04-x64")',
        ],
        [
            "malformed CIDR",
            set("newServer.adminCidrs", ["198.51.100.7/33"]),
            'newServer.adminCidrs: "198.51.100.7/33" is not a CIDR block such as 198.51.100.7/32 or 2001:db8::/48',
        ],
        [
            "address without prefix length",
            set("newServer.adminCidrs", ["198.51.100.7"]),
            'newServer.adminCidrs: "198.51.100.7" is not a CIDR block such as 198.51.100.7/32 or 2001:db8::/48',
        ],
        [
            "no SSH keys",
            set("newServer.sshKeys", []),
            "newServer.sshKeys must list at least one DigitalOcean SSH key id or fingerprint (without one DigitalOcean mails a root password and enables password login)",
        ],
        [
            "malformed SSH key reference",
            set("newServer.sshKeys", ["my laptop"]),
            'newServer.sshKeys: "my laptop" is neither a DigitalOcean SSH key id (digits) nor an MD5 fingerprint (aa:bb:...)',
        ],
        [
            "malformed release tag",
            set("newServer.miabTag", "main"),
            'newServer.miabTag must be a Mail-in-a-Box release tag such as v75 (got "main")',
        ],
        [
            "malformed admin email",
            set("newServer.adminEmail", "admin"),
            'newServer.adminEmail must be an email address such as admin@box.example.com (got "admin")',
        ],
        [
            "install timeout out of range",
            set("newServer.installTimeoutMinutes", 5),
            "newServer.installTimeoutMinutes must be between 10 and 600 minutes (got 5)",
        ],
        ["bad protect flag", set("newServer.protect", "yes"), 'newServer.protect must be true or false (got "yes")'],
        [
            "missing SSH private key",
            set("hasSshPrivateKey", false),
            "sshPrivateKey is required: pulumi config set --secret sshPrivateKey < ~/.ssh/miab-migrate (an OpenSSH private key without passphrase)",
        ],
    ];
    for (const [what, raw, message] of cases) {
        it(what, () => refuses(raw, message));
    }
});
