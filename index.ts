/**
 * miab-migrate: parse the stack configuration, build the components of the current phase,
 * export what the user needs. Nothing else happens here.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { MailDns } from "./components/mailDns";
import { MiabInstall } from "./components/miabInstall";
import { NewBox } from "./components/newBox";
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

const target =
    dns.target === "new" && box !== undefined ? { ipv4: box.ipv4, ipv6: box.ipv6 } : { ipv4: oldServer.ipv4, ipv6: oldServer.ipv6 };
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
