/**
 * miab-migrate: parse the stack configuration, build the components of the current phase,
 * export what the user needs. Nothing else happens here.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as digitalocean from "@pulumi/digitalocean";
import { MailDns } from "./components/mailDns";
import { MiabInstall } from "./components/miabInstall";
import { MigrationSteps } from "./components/migrationSteps";
import { NewBox } from "./components/newBox";
import { activeSteps, planSteps } from "./lib/plan";
import { PHASE_SUMMARY, hasNewBox, newBoxOpenToWorld, nextPhase as phaseAfter } from "./lib/phases";
import { planRecords } from "./lib/records";
import { readStackConfig } from "./lib/stackConfig";

const { config, sshPrivateKey: privateKey } = readStackConfig();
const { hostname, phase, dns, oldServer, newServer } = config;

let box: NewBox | undefined;
let install: MiabInstall | undefined;
if (hasNewBox(phase)) {
    const authorizedKey = tls.getPublicKeyOutput({ privateKeyOpenssh: privateKey }).publicKeyOpenssh;
    box = new NewBox("new-box", {
        hostname,
        region: newServer.region,
        size: newServer.size,
        image: newServer.image,
        sshKeys: [...newServer.sshKeys],
        authorizedKey,
        adminCidrs: newServer.adminCidrs,
        oldServer,
        openToWorld: newBoxOpenToWorld(phase),
        protect: newServer.protect,
    });
    install = new MiabInstall("miab", {
        host: box.ipv4,
        hostKey: box.hostKey,
        privateKey,
        hostname,
        publicIpv4: box.ipv4,
        publicIpv6: box.ipv6,
        miabTag: newServer.miabTag,
        adminEmail: newServer.adminEmail,
        timeoutMinutes: newServer.installTimeoutMinutes,
    });
}

const migration = new MigrationSteps("migration", {
    steps: activeSteps(planSteps(config), phase),
    phase,
    privateKey,
    oldBox: { host: oldServer.ipv4, port: oldServer.sshPort, user: oldServer.sshUser, hostKey: oldServer.hostKey },
    newBox: box && { host: box.ipv4, port: 22, user: "root", hostKey: box.hostKey, ipv4: box.ipv4, ipv6: box.ipv6 },
    install: install && { step: install.install, adminPassword: install.adminPassword },
    expect: {
        hostname,
        dkim: dns.dkim,
        transfer: config.transfer,
        newDiskGb: digitalocean
            .getSizesOutput({ filters: [{ key: "slug", values: [newServer.size] }] })
            .apply((r) => r.sizes[0]?.disk ?? 0),
    },
    ttl: dns.ttl,
    guards: {
        previousTtl: dns.previousTtl,
        acceptFailedChecks: config.cutover.acceptFailedChecks,
        decommissionAfterDays: config.decommission.afterDays,
    },
});

// The records move to the new box only once the cutover's guards have passed.
const afterCheck = (ip: pulumi.Output<string>) => pulumi.all([migration.cutoverCheck, ip]).apply(([, v]) => v);
const target =
    dns.target === "new" && box !== undefined
        ? { ipv4: afterCheck(box.ipv4), ipv6: afterCheck(box.ipv6) }
        : { ipv4: oldServer.ipv4, ipv6: oldServer.ipv6 };
const mailDns = new MailDns("dns", {
    records: planRecords({ hostname, domains: config.domains, dkim: dns.dkim, custom: dns.custom }),
    domains: config.domains,
    ttl: dns.ttl,
    target,
    adopt: dns.adopt,
    marker: `managed by miab-migrate (${pulumi.getProject()}/${pulumi.getStack()})`,
});

const next = phaseAfter(phase);
export const currentPhase = `${phase}: ${PHASE_SUMMARY[phase]}`;
export const nextPhase = next
    ? `${next}: ${PHASE_SUMMARY[next]}. Run: pulumi config set phase ${next} && pulumi preview && pulumi up`
    : "none: the migration is complete";
export const newIpv4 = box?.ipv4;
export const newIpv6 = box?.ipv6;
/** DigitalOcean sets these from the droplet name; check with `dig -x <address>`. */
export const expectedPtr = box
    ? pulumi.all([box.ipv4, box.ipv6]).apply(([v4, v6]) => [
          { address: v4, ptr: hostname },
          { address: v6, ptr: hostname },
      ])
    : undefined;
export const newHostKey = box?.hostKey;
export const adminUrl = box ? pulumi.interpolate`https://${box.ipv4}/admin` : undefined;
export const adminEmail = install?.adminEmail;
export const adminPassword = install?.adminPassword;
export const dnsTarget = dns.target;
export const dnsRecords = mailDns.table;
export const dnsAdoption = mailDns.adoptionCheck;
export const oldBox = migration.oldInventory.apply((inv) => ({
    hostname: inv.hostname,
    miabVersion: inv.miabVersion,
    ubuntu: inv.ubuntu,
    users: inv.users.map((u) => u.email),
    aliases: inv.aliases.map((a) => `${a.source} -> ${a.destination}`),
    domains: inv.domains,
    mailboxes: Object.fromEntries(inv.mailboxes.map((m) => [m.user, m.folders.map((f) => `${f.name}: ${f.messages} (${f.bytes} bytes)`)])),
    dkim: inv.dkim,
    diskUsedBytes: inv.diskUsedBytes,
    backup: inv.backup,
}));
export const verification = migration.verification;
export const cutoverCheck = migration.cutoverCheck;
export const cutoverAt = migration.cutoverAt;
export const monitorReport = migration.monitorReport;
