/** Reads a committed stack file (Pulumi.<stack>.yaml) without Pulumi: for CI checks and tests. */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";

/** The stack's `miab-migrate:` config values, keyed without the project prefix. */
export function readStackFile(stack: string): Record<string, unknown> {
    const file = path.resolve(__dirname, "..", `Pulumi.${stack}.yaml`);
    const doc = yaml.load(readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(/^miab-migrate:/, ""), v]));
}
