/**
 * `npm run bench:freeze -- [--messages N] [--churn PERCENT] [--message-bytes B]`: the
 * freeze window (the old box stops taking mail, when its firewall closes SMTP -> the new
 * box answers SMTP) of Mail-in-a-Box's own move procedure (final backup, copy of the
 * backups, full duplicity restore) against the project's default (rsync pre-copy while
 * the old box serves, then only the changes), on the same corpus, on two test hosts,
 * with the project's scripts.
 * Both start from the same point: the backups and the pre-copy of the data as it was
 * before CHURN percent of the messages changed (new mail arrived, and as many were read,
 * which renames their files). Messages are about B bytes (default 50,000, a common
 * average for real mailboxes; 0 for bare text). Both end with restore.sh reloading the
 * services (Mail-in-a-Box's setup re-run, which follows in both, is left out). Prints the
 * figures; the last line is
 *   freeze: baseline=<s>s project=<s>s ratio=<baseline/project>
 */
import { steps } from "../../lib/steps";
import { type Box, Lab } from "../harness/hosts";
import { answers, connectForTransfer, installStandIns, seed, waitUntil } from "../harness/migration";
import { CommandLine } from "./args";
import { generateCorpus } from "./corpus";

const SR = "/home/user-data";

async function untilAnswers(address: string) {
    await waitUntil(() => answers(address, 25), 600);
}

/** The seconds `work` takes. */
async function timed(work: () => Promise<void> | void): Promise<number> {
    const start = process.hrtime.bigint();
    await work();
    return Number(process.hrtime.bigint() - start) / 1e9;
}

const USAGE = "usage: npm run bench:freeze -- [--messages N] [--churn PERCENT] [--message-bytes B]";

/** The command line, or an Error whose message says what is wrong and the usage. */
export function parseBenchArgs(argv: string[]): { messages: number; churn: number; messageBytes: number } {
    const line = new CommandLine(argv, ["messages", "churn", "message-bytes"], USAGE);
    return {
        messages: line.number("messages", 2000, 4, 1_000_000, true),
        churn: line.number("churn", 1, 0, 100, false),
        messageBytes: line.number("message-bytes", 50_000, 0, 10_000_000, true),
    };
}

async function main({ messages, churn, messageBytes }: ReturnType<typeof parseBenchArgs>) {
    const log = (l: string) => process.stdout.write(`${l}\n`);
    const lab = new Lab();
    try {
        const oldBox = lab.up({ name: "fold", address: "198.18.0.80", hostname: "box.example.test" });
        const newBox = lab.up({ name: "fnew", address: "198.18.0.81", hostname: "box.example.test" });
        const usersPerDomain = 4;
        const corpus = generateCorpus({
            seed: 21,
            domains: ["example.test"],
            usersPerDomain,
            messagesPerUser: Math.ceil(messages / usersPerDomain),
            largeMessageBytes: 0,
            bodyBytes: messageBytes,
        });
        seed(oldBox, corpus);
        for (const box of [oldBox, newBox]) installStandIns(box);
        const { old } = connectForTransfer(oldBox, newBox);
        const backupFiles = oldBox.step(steps.backupFiles()).stdout;
        const total = corpus.messages.reduce((n, m) => n + m.content.length, 0);
        log(`corpus: ${corpus.messages.length} messages for ${corpus.users.length} users, ${(total / 1e6).toFixed(0)} MB`);

        // Both procedures start from the same point: last night's backup and the hot pre-copy.
        oldBox.step("cd /root/mailinabox && management/backup.py --full");
        newBox.step(steps.pullBackups(old, SR));
        newBox.step(steps.pull(old, SR));
        const changed = Math.round((corpus.messages.length * churn) / 100);
        churnMail(oldBox, corpus.users[0].email, changed);
        log(`churn: ${changed} new messages and ${changed} read (renamed) since the pre-copy`);

        const stage = async (name: string, work: () => Promise<void> | void) => log(`  ${name}: ${(await timed(work)).toFixed(1)} s`);
        /** The freeze, then `stages`: the seconds from SMTP closing on the old box until the new box answers SMTP. */
        const window = async (stages: () => Promise<void>) => {
            const closed = await freeze(oldBox, log);
            await stages();
            await stage("until the new box answers SMTP", () => untilAnswers(newBox.address));
            return Number(process.hrtime.bigint() - closed) / 1e9;
        };
        const project = await window(async () => {
            await stage("final rsync", () => void newBox.step(steps.pull(old, SR)));
            await stage("restore (renames)", () => void newBox.step(steps.restore(), backupFiles));
        });
        log(`project (rsync pre-copy, then the changes): ${project.toFixed(1)} s`);
        newBox.step(steps.unrestore());
        newBox.exec("rm", "-rf", "/home/miab-migrate-staging/user-data");
        oldBox.step(steps.thaw());

        const baseline = await window(async () => {
            await stage("final backup", () => void oldBox.step(steps.finalBackup()));
            await stage("copy of the new backup", () => void newBox.step(steps.pullBackups(old, SR)));
            await stage("duplicity restore", () => void newBox.step(steps.restoreFromBackup(), backupFiles));
        });
        log(`baseline (Mail-in-a-Box's final backup, then a full duplicity restore): ${baseline.toFixed(1)} s`);
        log(`freeze: baseline=${baseline.toFixed(1)}s project=${project.toFixed(1)}s ratio=${(baseline / project).toFixed(1)}`);
    } catch (e) {
        process.stderr.write(`bench:freeze: ${e instanceof Error ? e.message : e}\n`);
        process.exitCode = 1;
    } finally {
        lab.close();
    }
}

/**
 * Runs the freeze step on `box` and returns when it has finished, with the moment SMTP
 * closed: when the step reported the firewall closed (freeze.sh stops Dovecot before
 * that, while SMTP still takes mail).
 */
async function freeze(box: Box, log: (line: string) => void): Promise<bigint> {
    const start = process.hrtime.bigint();
    const run = box.sshAsync(steps.freeze(22));
    let closed: bigint | undefined;
    let out = "";
    run.child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        if (closed === undefined && /^freeze: firewall: only /m.test(out)) closed = process.hrtime.bigint();
    });
    const r = await run.done;
    if (r.status !== 0 || closed === undefined) throw new Error(`freeze exited ${r.status}:\n${r.stdout}${r.stderr}`);
    const end = process.hrtime.bigint();
    const s = (a: bigint, b: bigint) => (Number(b - a) / 1e9).toFixed(1);
    log(`  freeze: ${s(start, end)} s, of which ${s(closed, end)} s after SMTP closed`);
    return closed;
}

/** `count` new messages in new/ and `count` existing ones marked read (renamed), as users do. */
function churnMail(box: Box, user: string, count: number) {
    const [local, domain] = user.split("@");
    const dir = `${SR}/mail/mailboxes/${domain}/${local}`;
    box.exec(
        "bash",
        "-c",
        `set -e; cd ${dir}; for i in $(seq 1 ${count}); do f=new/19000$i.M$iP1.churn,S=64; printf 'Message-ID: <churn-%s@x>\\n\\nnew\\n' $i > $f; done;
         n=0; for f in cur/*; do [ $n -lt ${count} ] || break; case $f in *:2,*S*) continue;; esac; mv "$f" "\${f%%:2,*}:2,S"; n=$((n+1)); done; chown -R mail:mail .`,
    );
}

if (require.main === module) {
    let options: ReturnType<typeof parseBenchArgs>;
    try {
        options = parseBenchArgs(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`bench:freeze: error: ${e instanceof Error ? e.message : e}\n`);
        process.exit(2);
    }
    main(options).catch((e) => {
        process.stderr.write(`bench:freeze: ${e instanceof Error ? e.message : e}\n`);
        process.exit(1);
    });
}
