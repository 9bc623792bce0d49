/**
 * Usage: pulumi stack output --json --stack S | node --import tsx ci/check-outputs.ts S
 *
 * Compares the outputs of stack S with Pulumi.S.yaml (lib/outputsCheck.ts); exits 1 with
 * the problems when they disagree. Needs no credentials: secrets are not read.
 */
import { readFileSync } from "node:fs";
import { parseConfig } from "../lib/config";
import { type StackOutputs, checkOutputs } from "../lib/outputsCheck";
import { readStackFile } from "./stackFile";

function main(stack: string | undefined): number {
    if (!stack || !/^[a-z0-9-]+$/.test(stack)) {
        process.stderr.write("usage: pulumi stack output --json --stack S | node --import tsx ci/check-outputs.ts S\n");
        return 2;
    }
    // The secret SSH key is not needed to compare outputs.
    const config = parseConfig({ ...readStackFile(stack), hasSshPrivateKey: true });
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
