/** The remote shell steps, read from scripts/ at run time: the program sends the bytes the tests run. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";

export const SCRIPTS_DIR = path.resolve(__dirname, "..", "scripts");

/** Where the scripts live on a box. Root-only (0700). */
export const REMOTE_DIR = "/root/miab-migrate";

export function readScript(name: string): string {
    return readFileSync(path.join(SCRIPTS_DIR, name), "utf8");
}

export function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that installs `name` on the box from stdin: written to a temporary file and
 * renamed, so an interrupted upload never leaves half a script behind.
 */
export function uploadCommand(name: string): string {
    const dest = `${REMOTE_DIR}/${name}`;
    return `umask 077 && mkdir -p ${REMOTE_DIR} && cat > ${dest}.tmp && chmod 0700 ${dest}.tmp && mv -f ${dest}.tmp ${dest}`;
}
