/**
 * Usage: pulumi stack output --json --stack S | node --import tsx ci/check-outputs.ts S
 *
 * Compares the outputs of stack S with Pulumi.S.yaml (lib/outputsCheck.ts); exits 1 with
 * the problems when they disagree. Needs no credentials: secrets are not read.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { parseConfig } from "../lib/config";
import { type StackOutputs, checkOutputs } from "../lib/outputsCheck";

function main(stack: string | undefined): number {
    if (!stack || !/^[a-z0-9-]+$/.test(stack)) {
        process.stderr.write("usage: pulumi stack output --json --stack S | node --import tsx ci/check-outputs.ts S\n");
        return 2;
    }
    const file = path.resolve(__dirname, "..", `Pulumi.${stack}.yaml`);
    const doc = yaml.load(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const get = (k: string) => doc.config[`miab-migrate:${k}`];
    const config = parseConfig({
        hostname: get("hostname"),
        domains: get("domains"),
        phase: get("phase"),
        dns: get("dns"),
        oldServer: get("oldServer"),
        newServer: get("newServer"),
        hasSshPrivateKey: true,
    });
    const outputs = JSON.parse(readFileSync(0, "utf8")) as StackOutputs;
    const problems = checkOutputs(config, outputs);
    if (problems.length > 0) {
        process.stderr.write(`stack ${stack} does not match Pulumi.${stack}.yaml:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
        return 1;
    }
    process.stdout.write(
        `stack ${stack}: phase ${config.phase}, ${outputs.dnsRecords?.length} records at TTL ${config.dns.ttl}, target ${config.dns.target}: ok\n`,
    );
    return 0;
}

process.exitCode = main(process.argv[2]);
