/**
 * The rehearsal (npm run rehearse): its accounting must catch every loss, and the whole
 * migration on two test hosts must lose nothing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "./harness/program";
import { parseBenchArgs } from "./rehearsal/bench-freeze";
import { type Expected, type Report, accountMessages, parseRehearseArgs, sha } from "./rehearsal/rehearse";

describe("the rehearsal's accounting", () => {
    const file = Buffer.from("Message-ID: <a@x>\n\nhello\n");
    const expected: Expected[] = [
        { user: "u@example.test", messageId: "<a@x>", sha256: sha(file), part: "file" },
        { user: "u@example.test", messageId: "<b@x>", sha256: sha("sent"), part: "body" },
    ];
    const delivered = Buffer.from("Received: by box\r\nMessage-ID: <b@x>\r\n\r\nsent\r\n\r\n");

    it("finds each message once, by Message-ID and content", () => {
        const found = new Map([
            ["<a@x>", [{ user: "u@example.test", file }]],
            ["<b@x>", [{ user: "u@example.test", file: delivered }]],
        ]);
        assert.deepEqual(accountMessages(expected, found), { missing: [], duplicated: [], found: 2 });
    });

    it("reports a lost message, a changed one, one in another user's mailbox, and a duplicate", () => {
        const found = new Map([
            ["<a@x>", [{ user: "u@example.test", file: Buffer.from("Message-ID: <a@x>\n\nhellO\n") }]],
            ["<b@x>", [{ user: "other@example.test", file: delivered }]],
        ]);
        assert.deepEqual(accountMessages(expected, found), {
            missing: ["u@example.test <a@x>", "u@example.test <b@x>"],
            duplicated: [],
            found: 0,
        });
        const twice = new Map([
            [
                "<a@x>",
                [
                    { user: "u@example.test", file },
                    { user: "u@example.test", file },
                ],
            ],
        ]);
        assert.deepEqual(accountMessages(expected.slice(0, 1), twice), {
            missing: [],
            duplicated: ["u@example.test <a@x> (2 copies)"],
            found: 1,
        });
    });
});

describe("the command lines of the rehearsal and the benchmark", () => {
    it("rehearse: the generated corpus by default, --messages sizes it, --corpus replaces it", () => {
        assert.deepEqual(parseRehearseArgs([]), { corpusDir: undefined, messagesPerUser: 15, report: undefined });
        assert.deepEqual(parseRehearseArgs(["--messages", "2000", "--report", "r.json"]), {
            corpusDir: undefined,
            messagesPerUser: 500,
            report: "r.json",
        });
        assert.equal(parseRehearseArgs(["--corpus", "/srv/mail"]).corpusDir, "/srv/mail");
    });

    it("rehearse refuses what it does not know, with the usage", () => {
        const usage = "usage: npm run rehearse -- [--corpus DIR | --messages N] [--report FILE]";
        const refusals: [string[], string][] = [
            [["--corpis", "x"], `Unknown option '--corpis'; ${usage}`],
            [["--report"], `Option '--report <value>' argument missing; ${usage}`],
            [["--messages", "3"], `--messages must be a whole number from 4 to 1000000 (got "3"); ${usage}`],
            [["--messages", "ten"], `--messages must be a whole number from 4 to 1000000 (got "ten"); ${usage}`],
            [["--corpus", "/srv/mail", "--messages", "100"], `--messages sizes the generated corpus: leave it out with --corpus; ${usage}`],
        ];
        for (const [args, message] of refusals) assert.throws(() => parseRehearseArgs(args), { message }, args.join(" "));
    });

    it("bench:freeze: defaults, and every bad value refused with the usage", () => {
        assert.deepEqual(parseBenchArgs([]), { messages: 2000, churn: 1, messageBytes: 50_000 });
        assert.deepEqual(parseBenchArgs(["--messages", "20000", "--churn", "0.1", "--message-bytes", "0"]), {
            messages: 20_000,
            churn: 0.1,
            messageBytes: 0,
        });
        const usage = "usage: npm run bench:freeze -- [--messages N] [--churn PERCENT] [--message-bytes B]";
        const refusals: [string[], string][] = [
            [["--mesages", "1"], `Unknown option '--mesages'; ${usage}`],
            [["--messages", "1.5"], `--messages must be a whole number from 4 to 1000000 (got "1.5"); ${usage}`],
            [["--churn", "101"], `--churn must be a number from 0 to 100 (got "101"); ${usage}`],
            [["--message-bytes=-1"], `--message-bytes must be a whole number from 0 to 10000000 (got "-1"); ${usage}`],
        ];
        for (const [args, message] of refusals) assert.throws(() => parseBenchArgs(args), { message }, args.join(" "));
    });
});

describe("npm run rehearse", () => {
    it("migrates on two test hosts, forward and back, with nothing lost, duplicated or bounced", { timeout: 900_000 }, () => {
        const reportFile = path.join(tmpdir(), `miab-rehearsal-${process.pid}.json`);
        const run = spawnSync("npm", ["run", "-s", "rehearse", "--", "--report", reportFile], {
            cwd: ROOT,
            encoding: "utf8",
            timeout: 900_000,
        });
        assert.equal(run.status, 0, `${run.stderr}\n${run.stdout}`);
        const report = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
        assert.deepEqual(JSON.parse(run.stdout), report, "the same report on stdout and in --report");
        assert.equal(report.ok, true);
        assert.equal(report.messagesExpected, 61 + 11 + 1, "the seeded corpus, the messages accepted over SMTP and the straggler");
        assert.equal(report.messagesFound, report.messagesExpected);
        assert.deepEqual(report.missing, []);
        assert.deepEqual(report.duplicated, []);
        assert.equal(report.permanentRejections, 0);
        assert.ok(report.freezeSeconds > 0);
        assert.deepEqual(
            report.scenarios.map((s) => [s.name, s.ok]),
            [
                ["prepare reads the old box", true],
                ["mail keeps arriving on the old box during the pre-copy", true],
                ["senders during the freeze meet a closed port or a 4xx", true],
                ["the final copy killed half-way", true],
                ["rollback from restore: the old box takes mail again", true],
                ["wrong backup key", true],
                ["verify: old and new hold the same users, aliases, DKIM key and messages", true],
                ["cutover: mail to the old address is relayed, mail to the new one delivered", true],
                ["mail queued on the old box as the freeze began is relayed to the new box at the cutover", true],
                ["rollback from cutover: the old box has every message", true],
                ["monitor: a verified backup on the new box with the old key", true],
                ["every step run twice", true],
            ],
        );
        assert.ok(report.standIns.length >= 5, "says what was stood in");
    });
});
