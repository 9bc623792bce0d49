import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Phase } from "../lib/phases";
import { readScript, sha256, uploadCommand } from "../lib/scripts";
import { asRoot, sshAccessCommand, sshAccessRemove } from "../lib/steps";

/** How every step reaches a box: by address, as `user`, with the box's host key pinned. */
export function sshConnection(b: {
    host: pulumi.Input<string>;
    port: number;
    user: string;
    privateKey: pulumi.Input<string>;
    hostKey: pulumi.Input<string>;
}): command.types.input.remote.ConnectionArgs {
    return {
        host: b.host,
        user: b.user,
        port: b.port,
        privateKey: b.privateKey,
        hostKey: b.hostKey,
        // A new droplet takes a minute or two to boot: retry for about ten minutes.
        dialErrorLimit: 40,
        perDialTimeout: 15,
    };
}

export interface RemoteScriptsArgs {
    /** How to reach the box: its address (never its hostname), pinned host key, user and key. */
    readonly connection: command.types.input.remote.ConnectionArgs;
    /** The user `connection` logs in as; steps run through `sudo -n` unless it is root. */
    readonly user: string;
    /** The SSH port `connection` uses: the one this address must pass the rate limit on. */
    readonly sshPort: number;
    /** The current phase: the SSH access is renewed in each (lib/steps.ts sshAccessCommand). */
    readonly phase: Phase;
    /** Files in scripts/ to upload. */
    readonly scripts: readonly string[];
}

/**
 * Uploads the project's scripts to a box (root-only, in /root/miab-migrate) and builds the
 * steps that run them. Before anything else, in every phase, the address the program
 * connects from is let past Mail-in-a-Box's SSH rate limit (scripts/ssh-access.sh). Each
 * upload re-runs when its script changes, and every step waits for all uploads: the box
 * runs the bytes the tests ran.
 */
export class RemoteScripts extends pulumi.ComponentResource {
    private readonly uploads: command.remote.Command[];

    constructor(
        name: string,
        private readonly args: RemoteScriptsArgs,
        opts?: pulumi.ComponentResourceOptions,
    ) {
        super("miab-migrate:index:RemoteScripts", name, {}, opts);
        const access = new command.remote.Command(
            `${name}-ssh-access`,
            {
                connection: args.connection,
                create: sshAccessCommand(args.user, args.sshPort, args.phase),
                delete: sshAccessRemove(args.user, args.phase),
                stdin: readScript("ssh-access.sh"),
                logging: "stdoutAndStderr",
            },
            // A new phase updates it (create runs again). Replaced (`pulumi up --replace`), its
            // remove must run before the new allow, which it would otherwise undo.
            { parent: this, deleteBeforeReplace: true },
        );
        this.uploads = args.scripts.map((script) => {
            const text = readScript(script);
            return new command.remote.Command(
                `${name}-${script.replace(/\.sh$/, "")}`,
                { connection: args.connection, create: asRoot(args.user, uploadCommand(script)), stdin: text, triggers: [sha256(text)] },
                { parent: this, dependsOn: [access] },
            );
        });
        this.registerOutputs({});
    }

    /**
     * One step: `create` runs when the step comes into the plan (or a trigger changes),
     * `delete` when it leaves it: moving `phase` back runs the undo.
     */
    step(
        name: string,
        step: {
            create: pulumi.Input<string>;
            delete?: string;
            stdin?: pulumi.Input<string>;
            triggers?: pulumi.Input<unknown>[];
            secretOutput?: boolean;
            timeoutMinutes?: number;
        },
        opts: { dependsOn?: pulumi.Resource[] } = {},
    ): command.remote.Command {
        const timeout = `${step.timeoutMinutes ?? 10}m`;
        return new command.remote.Command(
            name,
            {
                connection: this.args.connection,
                create: pulumi.output(step.create).apply((c) => asRoot(this.args.user, c)),
                delete: step.delete === undefined ? undefined : asRoot(this.args.user, step.delete),
                stdin: step.stdin,
                triggers: step.triggers,
                logging: step.secretOutput ? "none" : "stdoutAndStderr",
            },
            {
                parent: this,
                dependsOn: [...this.uploads, ...(opts.dependsOn ?? [])],
                additionalSecretOutputs: step.secretOutput ? ["stdout"] : undefined,
                customTimeouts: { create: timeout, update: timeout, delete: timeout },
            },
        );
    }
}
