/**
 * Evaluates the Pulumi program once under Pulumi's mock runtime and prints what it did as
 * JSON on stdout. Runs in its own process (test/harness/program.ts spawns it), so every
 * evaluation starts from a clean runtime and a fresh module cache.
 *
 * stdin: { stack, preview, config: {key: value}, secretKeys: [key], existingRecords: {zoneId: [...]} }
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { normalizeDkim } from "../../lib/config";
import { MOCK, MOCK_HEALTH, mockInventory } from "./mock-values";

interface Input {
    stack: string;
    preview: boolean;
    config: Record<string, unknown>;
    secretKeys: string[];
    existingRecords: Record<string, unknown[]>;
    zones: Record<string, string>;
    program: string;
    /** stdout of remote commands by resource name; inventories default to a box matching the config. */
    commandStdout: Record<string, string>;
    /** Disk of every droplet size, in GB. */
    sizeDiskGb: number;
}

const LONG_AGO = "2026-01-01T00:00:00Z";

/** What a command prints unless the test says otherwise: a box that passes every check. */
function defaultStdout(type: string, name: string, input: Input): string {
    // Timestamps (the recorded TTL change, the cutover time): long enough ago for every wait.
    if (type === "command:local:Command" || name.endsWith("-takeover")) return `${LONG_AGO}\n`;
    if (name.endsWith("-health")) return JSON.stringify(MOCK_HEALTH);
    if (name.endsWith("-monitor")) return JSON.stringify({ certificate: { issuer: "CN = mock" }, backup: { verified: true }, queue: 0 });
    if (name.endsWith("-inventory")) {
        const dns = input.config.dns as { dkim?: string } | undefined;
        return JSON.stringify(mockInventory(input.config.hostname as string, normalizeDkim(dns?.dkim ?? "")));
    }
    return "line1\nMail-in-a-Box v75 is installed";
}

/** Pulumi's marker for a secret value on the wire. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";
const secretInputs: Record<string, string[]> = {};

/** The inputs with secrets unwrapped; the names of top-level inputs holding a secret go to secretInputs. */
function unsecret(resource: string, inputs: Record<string, unknown>): Record<string, unknown> {
    let found = false;
    const walk = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(walk);
        if (typeof v !== "object" || v === null) return v;
        const o = v as Record<string, unknown>;
        if (o[SECRET_SIG] === SECRET_VALUE) {
            found = true;
            return walk(o.value);
        }
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
    };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(inputs)) {
        found = false;
        out[k] = walk(v);
        if (found) (secretInputs[resource] ??= []).push(k);
    }
    return out;
}

async function main(): Promise<void> {
    const input = JSON.parse(readFileSync(0, "utf8")) as Input;
    const project = "miab-migrate";
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(input.config)) config[`${project}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(
        config,
        input.secretKeys.map((k) => `${project}:${k}`),
    );

    const resources: Record<string, unknown>[] = [];
    const invokes: { token: string; args: unknown }[] = [];
    pulumi.runtime.setMocks(
        {
            newResource(args) {
                resources.push({ type: args.type, name: args.name, inputs: unsecret(args.name, args.inputs), id: args.id });
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "digitalocean:index/droplet:Droplet") {
                    // A droplet's addresses are known only once it exists: not during a preview.
                    if (!input.preview) Object.assign(state, { ipv4Address: MOCK.dropletIpv4, ipv6Address: MOCK.dropletIpv6 });
                    return { id: input.preview ? "" : MOCK.dropletId, state };
                }
                if (args.type === "tls:index/privateKey:PrivateKey") {
                    Object.assign(state, { privateKeyOpenssh: MOCK.hostKeyPrivate, publicKeyOpenssh: `${MOCK.hostKeyPublic}\n` });
                }
                if (args.type === "random:index/randomPassword:RandomPassword") state.result = MOCK.password;
                if (args.type === "command:local:Command" || args.type === "command:remote:Command") {
                    const stdout = input.commandStdout[args.name] ?? defaultStdout(args.type, args.name, input);
                    // A command that runs in this update has no output during its preview.
                    if (!input.preview) Object.assign(state, { stdout, stderr: "" });
                }
                return { id: args.id || `${args.name}-id`, state };
            },
            call(args) {
                invokes.push({ token: args.token, args: args.inputs });
                if (args.token === "cloudflare:index/getZone:getZone") {
                    const name = (args.inputs.filter as { name: string }).name;
                    const id = input.zones[name];
                    if (!id) throw new Error(`mock: no Cloudflare zone ${name}`);
                    return { id, zoneId: id, name };
                }
                if (args.token === "cloudflare:index/getDnsRecords:getDnsRecords") {
                    return { results: input.existingRecords[args.inputs.zoneId as string] ?? [] };
                }
                if (args.token === "digitalocean:index/getSizes:getSizes") {
                    return { sizes: [{ slug: "mock", disk: input.sizeDiskGb }] };
                }
                if (args.token === "tls:index/getPublicKey:getPublicKey") {
                    return { publicKeyOpenssh: `${MOCK.authorizedKey}\n` };
                }
                throw new Error(`mock: unexpected invoke ${args.token}`);
            },
        },
        project,
        input.stack,
        input.preview,
    );

    const options: Record<string, unknown> = {};
    const register = () =>
        pulumi.runtime.registerStackTransformation((t) => {
            const o = t.opts as pulumi.CustomResourceOptions;
            options[t.name] = {
                protect: o.protect ?? false,
                ignoreChanges: o.ignoreChanges ?? [],
                import: o.import,
                dependsOn: ([] as unknown[]).concat(o.dependsOn ?? []).map((d) => (d as { __name?: string }).__name),
                customTimeouts: o.customTimeouts,
                additionalSecretOutputs: o.additionalSecretOutputs ?? [],
                deleteBeforeReplace: o.deleteBeforeReplace ?? false,
            };
            return undefined;
        });

    const result: Record<string, unknown> = {};
    try {
        // The stack resource must exist before a transformation can be registered.
        let program: Record<string, unknown> = {};
        await pulumi.runtime.runInPulumiStack(async () => {
            register();
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            program = require(`../../${input.program}`) as Record<string, unknown>;
            return undefined;
        });
        const outputs: Record<string, unknown> = {};
        const secretOutputs: string[] = [];
        const collect = async () => {
            for (const [k, v] of Object.entries(program)) {
                if (pulumi.Output.isInstance(v)) {
                    // Output.promise() rejects when an apply callback threw, as the engine would report it.
                    outputs[k] = await (v as unknown as { promise(): Promise<unknown> }).promise();
                    if (await pulumi.isSecret(v as pulumi.Output<unknown>)) secretOutputs.push(k);
                } else {
                    outputs[k] = v;
                }
            }
            await pulumi.runtime.disconnect();
        };
        // An output that waits on a failed apply may never settle under mocks (the engine
        // would have stopped the update): the first error the program raised ends the wait.
        let timer: NodeJS.Timeout | undefined;
        const failed = new Promise<never>((_, reject) => {
            timer = setInterval(() => {
                if (unhandled.length > 0) reject(new Error(unhandled[0]));
            }, 20);
        });
        try {
            await Promise.race([collect(), failed]);
        } finally {
            clearInterval(timer);
        }
        Object.assign(result, { outputs, secretOutputs });
    } catch (e) {
        result.error = e instanceof Error ? e.message : String(e);
    }
    // A failed apply may surface as an unhandled rejection a moment later: let it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    result.error ??= unhandled[0];
    Object.assign(result, { resources, invokes, options, secretInputs });
    process.stdout.write(JSON.stringify(result));
}

const unhandled: string[] = [];
process.on("unhandledRejection", (e) => unhandled.push(e instanceof Error ? e.message : String(e)));

main().catch((e) => {
    process.stdout.write(JSON.stringify({ error: `harness: ${e instanceof Error ? e.stack : e}` }));
});
