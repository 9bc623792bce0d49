import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderCloudInit } from "../lib/cloudInit";
import { planInbound, planOutbound } from "../lib/firewall";

/**
 * hostname, adminCidrs, oldServer, openToWorld and protect are plain values, not Inputs:
 * they decide resource names, options and firewall rules when the component is built, so
 * that `pulumi preview` shows them in full.
 */
export interface NewBoxArgs {
    /** The box's FQDN; also the droplet name, which is how DigitalOcean sets its PTR records. */
    readonly hostname: string;
    /** DigitalOcean region slug. */
    readonly region: pulumi.Input<string>;
    /** Droplet size slug. */
    readonly size: pulumi.Input<string>;
    /** Image slug; default ubuntu-22-04-x64. */
    readonly image: pulumi.Input<string>;
    /** DigitalOcean SSH key ids or fingerprints for root. */
    readonly sshKeys: pulumi.Input<pulumi.Input<string>[]>;
    /** Public half of the key the program logs in with. */
    readonly authorizedKey: pulumi.Input<string>;
    /** Networks allowed to SSH in, and to reach the service ports before cutover; default none (SSH from everywhere). */
    readonly adminCidrs: readonly string[];
    /** The old box, which may reach the service ports before cutover. */
    readonly oldServer: { readonly ipv4: string; readonly ipv6?: string };
    /** Service ports open to the world (from cutover on); default false. */
    readonly openToWorld: boolean;
    /** Protect droplet and host key from deletion; default true. */
    readonly protect: boolean;
}

/** The new Mail-in-a-Box droplet with its pinned SSH host key and its firewall. */
export class NewBox extends pulumi.ComponentResource {
    public readonly ipv4: pulumi.Output<string>;
    public readonly ipv6: pulumi.Output<string>;
    /** The host key every remote command checks (OpenSSH public key line). */
    public readonly hostKey: pulumi.Output<string>;
    public readonly dropletId: pulumi.Output<string>;

    constructor(name: string, args: NewBoxArgs, opts?: pulumi.ComponentResourceOptions) {
        super("miab-migrate:index:NewBox", name, {}, opts);

        const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this, protect: args.protect });

        const userData = pulumi.secret(
            pulumi
                .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh, args.authorizedKey])
                .apply(([hostKeyPrivate, hostKeyPublic, authorizedKey]) =>
                    renderCloudInit({ hostKeyPrivate, hostKeyPublic, authorizedKey }),
                ),
        );

        const droplet = new digitalocean.Droplet(
            `${name}-droplet`,
            {
                name: args.hostname,
                region: args.region,
                size: args.size,
                image: args.image,
                ipv6: true,
                monitoring: true,
                sshKeys: args.sshKeys,
                userData,
                tags: ["miab-migrate"],
            },
            {
                parent: this,
                protect: args.protect,
                // User data and SSH keys only matter at first boot, but changing either makes
                // DigitalOcean replace the droplet: a live mail server. Replace it only on
                // purpose, with `pulumi up --replace <urn>`.
                ignoreChanges: ["userData", "sshKeys"],
            },
        );

        new digitalocean.Firewall(
            `${name}-firewall`,
            {
                name: `miab-${args.hostname.replace(/\./g, "-")}`,
                dropletIds: [droplet.id.apply(Number)],
                inboundRules: planInbound(args),
                outboundRules: planOutbound(),
            },
            { parent: this },
        );

        this.ipv4 = droplet.ipv4Address;
        this.ipv6 = droplet.ipv6Address;
        this.hostKey = hostKey.publicKeyOpenssh.apply((k) => k.trim());
        this.dropletId = droplet.id;
        this.registerOutputs({ ipv4: this.ipv4, ipv6: this.ipv6, hostKey: this.hostKey, dropletId: this.dropletId });
    }
}
