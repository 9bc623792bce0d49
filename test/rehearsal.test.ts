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
import { type Expected, type Report, accountMessages, sha } from "./rehearsal/rehearse";

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
        assert.equal(report.messagesExpected, 61 + 10 + 1, "the seeded corpus, the messages accepted over SMTP and the straggler");
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
                ["rollback from cutover: the old box has every message", true],
                ["monitor: a verified backup on the new box with the old key", true],
                ["every step run twice", true],
            ],
        );
        assert.ok(report.standIns.length >= 5, "says what was stood in");
    });
});
