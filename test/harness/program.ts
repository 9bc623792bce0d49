/** Runs the program under mocks in a child process (test/harness/evaluate.ts) and returns what it did. */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { readStackFile } from "../../ci/stackFile";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface Resource {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    id?: string;
}

export interface Evaluation {
    error?: string;
    resources: Resource[];
    invokes: { token: string; args: Record<string, unknown> }[];
    options: Record<
        string,
        {
            protect: boolean;
            ignoreChanges: string[];
            import?: string;
            dependsOn: string[];
            customTimeouts?: unknown;
            additionalSecretOutputs: string[];
            deleteBeforeReplace: boolean;
        }
    >;
    secretInputs: Record<string, string[]>;
    outputs: Record<string, unknown>;
    secretOutputs: string[];
}

export const TEST_PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ndGVzdCBrZXk=\n-----END OPENSSH PRIVATE KEY-----\n";

/** The committed stack file's config, without the project prefix, plus the test SSH key. */
export function stackConfig(stack: string): Record<string, unknown> {
    return { sshPrivateKey: TEST_PRIVATE_KEY, ...readStackFile(stack) };
}

export const ZONES: Record<string, string> = {
    "example.com": "c0000000000000000000000000000001",
    "example.org": "c0000000000000000000000000000002",
    "miab-staging.example": "c0000000000000000000000000000003",
};

export interface EvaluateOptions {
    stack?: string;
    preview?: boolean;
    existingRecords?: Record<string, unknown[]>;
    /** Program to evaluate instead of index.ts (relative to the repository root). */
    program?: string;
    /** stdout of remote commands by resource name (see evaluate.ts). */
    commandStdout?: Record<string, string>;
    /** Disk of the droplet size in GB; default 50. */
    sizeDiskGb?: number;
}

export function evaluate(config: Record<string, unknown>, opts: EvaluateOptions = {}): Evaluation {
    const input = {
        stack: opts.stack ?? "staging",
        preview: opts.preview ?? false,
        config,
        secretKeys: ["sshPrivateKey"],
        zones: ZONES,
        existingRecords: opts.existingRecords ?? {},
        program: opts.program ?? "index",
        commandStdout: opts.commandStdout ?? {},
        sizeDiskGb: opts.sizeDiskGb ?? 50,
    };
    const run = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "evaluate.ts")], {
        input: JSON.stringify(input),
        cwd: ROOT,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    // A failed run may also exit 1 for the promises its failure left pending: what it printed counts.
    if (run.stdout === "") throw new Error(`evaluate.ts failed (${run.status}): ${run.stderr}`);
    return JSON.parse(run.stdout) as Evaluation;
}

/** `obj` with the dotted `key` set to `value` (undefined deletes it). */
export function withKey(obj: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
    const copy = structuredClone(obj);
    const parts = key.split(".");
    let o = copy as Record<string, unknown>;
    for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
    const last = parts[parts.length - 1];
    if (value === undefined) delete o[last];
    else o[last] = value;
    return copy;
}

/** The program's error without the SDK's "error serializing property ..." prefixes. */
export function errorOf(ev: Evaluation): string | undefined {
    return ev.error?.replace(/^(error serializing property "[^"]+": )+/, "");
}

export function byType(ev: Evaluation, type: string): Resource[] {
    return ev.resources.filter((r) => r.type === type);
}

export function one(ev: Evaluation, name: string): Resource {
    const r = ev.resources.find((x) => x.name === name);
    if (!r) throw new Error(`no resource ${name}; have ${ev.resources.map((x) => x.name).join(", ")}`);
    return r;
}
