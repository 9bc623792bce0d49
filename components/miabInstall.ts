import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { readScript, sha256, uploadCommand } from "../lib/scripts";
import { steps } from "../lib/steps";
import { sshConnection } from "./remoteScripts";

export const INSTALL_SCRIPT = "install-miab.sh";

export interface MiabInstallArgs {
    /** Address to reach the box at (never its hostname, which moves at cutover). */
    readonly host: pulumi.Input<string>;
    /** The box's pinned SSH host key. */
    readonly hostKey: pulumi.Input<string>;
    /** Private key for root (secret). */
    readonly privateKey: pulumi.Input<string>;
    /** PRIMARY_HOSTNAME. */
    readonly hostname: string;
    /** PUBLIC_IP. */
    readonly publicIpv4: pulumi.Input<string>;
    /** PUBLIC_IPV6. */
    readonly publicIpv6: pulumi.Input<string>;
    /** Mail-in-a-Box release tag; default v75. */
    readonly miabTag: string;
    /** First admin account; default admin@<hostname>. */
    readonly adminEmail: string;
    /** Upper bound for the whole install; default 90. */
    readonly timeoutMinutes: number;
}

/**
 * Installs Mail-in-a-Box on the box through scripts/install-miab.sh. The admin password is
 * generated here and reaches the box only on the script's stdin.
 */
export class MiabInstall extends pulumi.ComponentResource {
    public readonly adminEmail: pulumi.Output<string>;
    public readonly adminPassword: pulumi.Output<string>;
    /** The install step: what the restore waits for. */
    public readonly install: command.remote.Command;

    constructor(name: string, args: MiabInstallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("miab-migrate:index:MiabInstall", name, {}, opts);

        const password = new random.RandomPassword(`${name}-admin-password`, { length: 32, special: false }, { parent: this });

        const connection = sshConnection({ host: args.host, port: 22, user: "root", privateKey: args.privateKey, hostKey: args.hostKey });

        const script = readScript(INSTALL_SCRIPT);
        const upload = new command.remote.Command(
            `${name}-upload`,
            { connection, create: uploadCommand(INSTALL_SCRIPT), stdin: script },
            { parent: this },
        );

        const argv = pulumi.all([args.publicIpv4, args.publicIpv6]).apply(([publicIpv4, publicIpv6]) =>
            steps.installMiab({
                hostname: args.hostname,
                publicIpv4,
                publicIpv6,
                tag: args.miabTag,
                adminEmail: args.adminEmail,
                timeoutSeconds: args.timeoutMinutes * 60,
            }),
        );

        this.install = new command.remote.Command(
            `${name}-install`,
            {
                connection,
                create: argv,
                stdin: pulumi.secret(password.result),
                // A new script version re-runs setup, Mail-in-a-Box's own repair path.
                triggers: [sha256(script)],
                logging: "stdoutAndStderr",
            },
            {
                parent: this,
                dependsOn: [upload],
                customTimeouts: { create: `${args.timeoutMinutes + 10}m`, update: `${args.timeoutMinutes + 10}m` },
            },
        );

        this.adminEmail = pulumi.output(args.adminEmail);
        this.adminPassword = pulumi.secret(password.result);
        this.registerOutputs({ adminEmail: this.adminEmail, adminPassword: this.adminPassword });
    }
}
