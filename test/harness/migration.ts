/** Set-up shared by the tests, the rehearsal and the benchmark that migrate between two test hosts. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { NEW_BOX_SCRIPTS, OLD_BOX_SCRIPTS, type OldBoxAddress, steps } from "../../lib/steps";
import { type Corpus, writeCorpus } from "../rehearsal/corpus";
import type { Box } from "./hosts";
import { ROOT } from "./program";

const SR = "/home/user-data";

/** A password hash as Mail-in-a-Box stores it (SHA512-CRYPT, by Dovecot's own tool). */
export function passwordHash(password: string): string {
    return spawnSync("doveadm", ["pw", "-s", "SHA512-CRYPT", "-p", password], { encoding: "utf8" }).stdout.trim();
}

/** Writes the corpus's mail, users and aliases onto `box`. */
export function seed(box: Box, corpus: Corpus): void {
    box.exec("sqlite3", `${SR}/mail/users.sqlite`, writeCorpus(box.lab.file(box.spec.name, "home", "user-data"), corpus, passwordHash));
    box.exec("chown", "-R", "mail:mail", `${SR}/mail`);
}

/** Mail-in-a-Box's management/backup.py and ssl_certificates.py, as stood in by test/fixtures. */
export function installStandIns(box: Box): void {
    box.exec("mkdir", "-p", "/root/mailinabox/management");
    const fixtures = { "miab-backup.sh": "backup.py", "miab-ssl-certificates.sh": "ssl_certificates.py" };
    for (const [fixture, name] of Object.entries(fixtures)) {
        box.exec("install", "-m", "0755", path.join(ROOT, "test", "fixtures", fixture), `/root/mailinabox/management/${name}`);
    }
}

/**
 * Uploads the scripts to both boxes and sets up the transfer key as `provision` does;
 * returns the key's path and how the new box reaches the old one.
 */
export function connectForTransfer(oldBox: Box, newBox: Box): { key: string; old: OldBoxAddress } {
    oldBox.upload(...OLD_BOX_SCRIPTS);
    newBox.upload(...NEW_BOX_SCRIPTS);
    const key = path.join(oldBox.lab.scratch, "transfer_ed25519");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key]);
    const old = { ipv4: oldBox.address, sshPort: 22, hostKey: oldBox.hostKey() };
    oldBox.step(steps.grantTransfer(newBox.address, 22), readFileSync(`${key}.pub`, "utf8"));
    newBox.step(steps.transferSetup(old), readFileSync(key, "utf8"));
    return { key, old };
}

/** Checks `check` every 100 ms, at most `tries` times, until it holds; whether it did. */
export async function waitUntil(check: () => boolean | Promise<boolean>, tries = 50): Promise<boolean> {
    for (let i = 0; i < tries; i++) {
        if (await check()) return true;
        await new Promise((r) => setTimeout(r, 100));
    }
    return false;
}

/** Whether Postfix on `box` holds mail for `user` in its deferred queue (postqueue -j). */
export function deferredFor(box: Box, user: string): boolean {
    return box
        .exec("postqueue", "-j")
        .split("\n")
        .filter((l) => l !== "")
        .some((l) => {
            const q = JSON.parse(l) as { queue_name: string; recipients: { address: string }[] };
            return q.queue_name === "deferred" && q.recipients.some((r) => r.address === user);
        });
}

/** Answers on address:port within 2 seconds? (A dropped or refused connection is "no".) */
export function answers(address: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host: address, port, timeout: 2000 });
        s.on("connect", () => (s.destroy(), resolve(true)));
        s.on("timeout", () => (s.destroy(), resolve(false)));
        s.on("error", () => resolve(false));
    });
}
