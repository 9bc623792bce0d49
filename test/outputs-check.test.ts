import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parseConfig } from "../lib/config";
import { type StackOutputs, checkOutputs } from "../lib/outputsCheck";
import { ROOT, evaluate, stackConfig } from "./harness/program";

const staging = stackConfig("staging");
const config = parseConfig({ ...staging, hasSshPrivateKey: true });

/** The outputs the program itself produces for the committed staging stack. */
const outputs = evaluate(staging).outputs as StackOutputs;

describe("checkOutputs", () => {
    it("accepts the outputs the program produces for the stack's configuration", () => {
        assert.deepEqual(checkOutputs(config, outputs), []);
    });

    it("reports a wrong TTL, a wrong address and a failed adoption check", () => {
        const records = outputs.dnsRecords!.map((r) => ({ ...r }));
        records[0] = { ...records[0], content: "192.0.2.1" };
        records[5] = { ...records[5], ttl: 86400 };
        assert.deepEqual(checkOutputs(config, { ...outputs, dnsRecords: records, dnsAdoption: undefined }), [
            "dnsAdoption is undefined",
            "A box.miab-staging.example points at 192.0.2.1, dns.target old is 198.51.100.20",
            `${records[5].type} ${records[5].name} has TTL 86400, dns.ttl is 300`,
        ]);
    });

    it("runs as the CI step: exit 1 with the problems, 0 when they agree", () => {
        const cli = (out: unknown) =>
            spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "ci", "check-outputs.ts"), "staging"], {
                cwd: ROOT,
                input: JSON.stringify(out),
                encoding: "utf8",
            });
        const ok = cli(outputs);
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(ok.stdout, "stack staging: phase prepare, 49 records at TTL 300, target old: ok\n");
        const bad = cli({ ...outputs, currentPhase: "provision: ..." });
        assert.equal(bad.status, 1);
        assert.equal(
            bad.stderr,
            'stack staging does not match Pulumi.staging.yaml:\n  - currentPhase is "provision: ...", the configuration says prepare\n',
        );
    });
});
