/**
 * A deterministic mail corpus in Mail-in-a-Box's layout, for the rehearsal: the same seed
 * gives byte-identical messages, file names and users. It includes the hard cases a
 * migration must carry over: non-ASCII folder names (modified UTF-7, RFC 3501 5.1.3),
 * nested folders, flags in file names, a large message, empty folders, sieve scripts and
 * aliases.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export interface CorpusOptions {
    readonly seed: number;
    readonly domains: readonly string[];
    readonly usersPerDomain: number;
    readonly messagesPerUser: number;
    /** Size of the one large message, in bytes (0 for none). Default 20 MiB. */
    readonly largeMessageBytes?: number;
    /** Pad each message body to about this many bytes with base64 lines, like an attachment (default: no padding). */
    readonly bodyBytes?: number;
}

export interface CorpusUser {
    readonly email: string;
    readonly password: string;
}

export interface CorpusMessage {
    readonly user: string;
    /** Maildir++ folder: "" for INBOX, else ".Name" with "." between levels, names in modified UTF-7. */
    readonly folder: string;
    /** Subdirectory and file name, e.g. "cur/1700000000.M1P1.box,S=123:2,FS". */
    readonly file: string;
    readonly messageId: string;
    readonly content: string;
    /** How `content` maps to the file's bytes; default utf8 (latin1 for imported files, byte for byte). */
    readonly encoding?: "utf8" | "latin1";
    readonly sha256: string;
}

export interface Corpus {
    readonly users: readonly CorpusUser[];
    readonly aliases: readonly { readonly source: string; readonly destination: string }[];
    /** Every folder of every user, INBOX included as "", empty ones too. */
    readonly folders: Readonly<Record<string, readonly string[]>>;
    readonly messages: readonly CorpusMessage[];
    readonly sieve: Readonly<Record<string, string>>;
}

/** Modified UTF-7 as IMAP uses for mailbox names (RFC 3501 section 5.1.3). */
export function encodeMailboxName(name: string): string {
    let out = "";
    let pending = "";
    const flush = () => {
        if (pending === "") return;
        const utf16 = Buffer.alloc(pending.length * 2);
        for (let i = 0; i < pending.length; i++) utf16.writeUInt16BE(pending.charCodeAt(i), i * 2);
        out += `&${utf16.toString("base64").replace(/=+$/, "").replace(/\//g, ",")}-`;
        pending = "";
    };
    for (const ch of name) {
        const code = ch.codePointAt(0) as number;
        if (code >= 0x20 && code <= 0x7e) {
            flush();
            out += ch === "&" ? "&-" : ch;
        } else {
            pending += ch;
        }
    }
    flush();
    return out;
}

/** mulberry32: a small, well-known deterministic PRNG. */
function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** Folder display names; each user gets these (the last two stay empty). */
const FOLDERS = [[], ["Archive"], ["Entwürfe"], ["Projects", "2026"], ["Projects", "Ärger & Co"], ["Trash"], ["Empty"]] as const;
const EMPTY = new Set(["Trash", "Empty"]);
const FLAGS = ["", "S", "FS", "RS", "DS", "ST"];

const WORDS = "mail box migration backup restore dovecot postfix imap smtp folder message server ticket invoice meeting draft report".split(
    " ",
);

export function generateCorpus(opts: CorpusOptions): Corpus {
    const rand = prng(opts.seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    const users: CorpusUser[] = [];
    for (const domain of opts.domains) {
        for (let i = 1; i <= opts.usersPerDomain; i++) {
            users.push({ email: `user${i}@${domain}`, password: `pw-${opts.seed}-${i}-${domain}` });
        }
    }
    const folderOf = (parts: readonly string[]) => (parts.length === 0 ? "" : `.${parts.map(encodeMailboxName).join(".")}`);
    const folders: Record<string, string[]> = {};
    const sieve: Record<string, string> = {};
    const messages: CorpusMessage[] = [];
    let serial = 0;
    for (const u of users) {
        folders[u.email] = FOLDERS.map(folderOf);
        sieve[u.email] = `require ["fileinto"];\nif header :contains "subject" "invoice" {\n  fileinto "Archive";\n}\n`;
        const filled = FOLDERS.filter((f) => !f.some((p) => EMPTY.has(p)));
        for (let m = 0; m < opts.messagesPerUser; m++) {
            serial++;
            const folder = folderOf(m < filled.length ? filled[m] : pick(filled));
            const messageId = `<corpus-${opts.seed}-${serial}@sender.test>`;
            const subject = Array.from({ length: 4 }, () => pick(WORDS)).join(" ");
            const text = Array.from({ length: 3 + Math.floor(rand() * 20) }, () =>
                Array.from({ length: 12 }, () => pick(WORDS)).join(" "),
            ).join("\r\n");
            const body = opts.bodyBytes ? text + attachment(serial, opts.bodyBytes - text.length) : text;
            const content =
                `Return-Path: <sender${serial % 7}@sender.test>\r\nFrom: Sender ${serial % 7} <sender${serial % 7}@sender.test>\r\n` +
                `To: <${u.email}>\r\nSubject: ${subject}\r\nMessage-ID: ${messageId}\r\n` +
                `Date: ${new Date(Date.UTC(2026, 0, 1) + serial * 3600_000).toUTCString()}\r\n\r\n${body}\r\n`;
            messages.push(makeMessage(u.email, folder, serial, content, messageId, pick(FLAGS)));
        }
    }
    const large = opts.largeMessageBytes ?? 20 * 1024 * 1024;
    if (large > 0 && users.length > 0) {
        serial++;
        const messageId = `<corpus-${opts.seed}-large@sender.test>`;
        const head = `From: <big@sender.test>\r\nTo: <${users[0].email}>\r\nSubject: large attachment\r\nMessage-ID: ${messageId}\r\n\r\n`;
        const line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n";
        const content = head + line.repeat(Math.ceil((large - head.length) / line.length));
        messages.push(makeMessage(users[0].email, "", serial, content, messageId, "S"));
    }
    const aliases = opts.domains.flatMap((d, i) => [
        { source: `postmaster@${d}`, destination: `user1@${d}` },
        {
            source: `team@${d}`,
            destination: users
                .filter((u) => u.email.endsWith(`@${d}`))
                .map((u) => u.email)
                .join(","),
        },
        { source: `forward${i}@${d}`, destination: `user1@${opts.domains[(i + 1) % opts.domains.length]}` },
    ]);
    return { users, aliases, folders, messages, sieve };
}

/**
 * About `bytes` of base64 lines of pseudo-random data, different in every message: like a
 * real attachment (already compressed), it does not shrink in a backup.
 */
function attachment(serial: number, bytes: number): string {
    if (bytes <= 0) return "";
    const raw = Buffer.alloc(Math.ceil((bytes * 3) / 4));
    for (let off = 0, i = 0; off < raw.length; off += 32, i++) {
        createHash("sha256").update(`${serial}:${i}`).digest().copy(raw, off);
    }
    return `\r\n\r\n${(raw.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n")}`;
}

function makeMessage(user: string, folder: string, serial: number, content: string, messageId: string, flags: string): CorpusMessage {
    const size = Buffer.byteLength(content);
    // Maildir names: <time>.M<usec>P<pid>.<host>,S=<size>[:2,<flags>]; unread ones wait in new/.
    const base = `${1767225600 + serial}.M${serial}P1.corpus,S=${size}`;
    const file = flags === "" ? `new/${base}` : `cur/${base}:2,${flags}`;
    return { user, folder, file, messageId, content, sha256: createHash("sha256").update(content).digest("hex") };
}

/**
 * Writes the corpus's Maildirs and sieve scripts under `storageRoot` (a host's
 * /home/user-data) and returns the SQL that adds its users and aliases to users.sqlite.
 * Ownership (mail:mail) is left to the caller, who runs on the host.
 */
export function writeCorpus(storageRoot: string, corpus: Corpus, passwordHash: (password: string) => string): string {
    const mailboxes = path.join(storageRoot, "mail", "mailboxes");
    for (const u of corpus.users) {
        const [local, domain] = u.email.split("@");
        const home = path.join(mailboxes, domain, local);
        for (const folder of corpus.folders[u.email]) {
            for (const sub of ["cur", "new", "tmp"]) mkdirSync(path.join(home, folder, sub), { recursive: true });
            if (folder !== "") writeFileSync(path.join(home, folder, "maildirfolder"), "");
        }
        writeFileSync(
            path.join(home, "subscriptions"),
            corpus.folders[u.email]
                .filter((f) => f !== "")
                .map((f) => `${f.slice(1)}\n`)
                .join(""),
        );
        const sieveDir = path.join(storageRoot, "mail", "sieve", domain);
        mkdirSync(sieveDir, { recursive: true });
        writeFileSync(path.join(sieveDir, `${local}.sieve`), corpus.sieve[u.email]);
    }
    for (const m of corpus.messages) {
        const [local, domain] = m.user.split("@");
        const file = path.join(mailboxes, domain, local, m.folder, m.file);
        writeFileSync(file, Buffer.from(m.content, m.encoding ?? "utf8"));
        chmodSync(file, 0o600);
    }
    const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
    return [
        ...corpus.users.map((u) => `INSERT INTO users (email, password) VALUES (${q(u.email)}, ${q(passwordHash(u.password))});`),
        ...corpus.aliases.map((a) => `INSERT INTO aliases (source, destination) VALUES (${q(a.source)}, ${q(a.destination)});`),
    ].join("\n");
}

/**
 * A corpus read from a tree in Mail-in-a-Box's `mailboxes` layout (DIR/<domain>/<user>/
 * with Maildir++ folders): every file in a cur/ or new/ is a message, every user directory
 * a user (with a generated password), no aliases. Messages without a Message-ID get the
 * file name as their identity.
 */
export function readCorpusDir(dir: string): Corpus {
    const users: CorpusUser[] = [];
    const folders: Record<string, string[]> = {};
    const sieve: Record<string, string> = {};
    const messages: CorpusMessage[] = [];
    const isDir = (p: string) => statSync(p).isDirectory();
    for (const domain of readdirSync(dir)
        .sort()
        .filter((d) => isDir(path.join(dir, d)))) {
        for (const local of readdirSync(path.join(dir, domain)).sort()) {
            const home = path.join(dir, domain, local);
            if (!isDir(home)) continue;
            const email = `${local}@${domain}`;
            users.push({ email, password: `pw-${createHash("sha256").update(email).digest("hex").slice(0, 12)}` });
            const fs = ["", ...readdirSync(home).filter((f) => f.startsWith(".") && isDir(path.join(home, f)))].sort();
            folders[email] = fs;
            sieve[email] = "";
            for (const folder of fs) {
                for (const sub of ["cur", "new"]) {
                    const d = path.join(home, folder, sub);
                    if (!existsSync(d)) continue;
                    for (const name of readdirSync(d).sort()) {
                        const content = readFileSync(path.join(d, name), "latin1");
                        const messageId =
                            /^Message-ID:\s*(.+?)\s*$/im.exec(content.split(/\r?\n\r?\n/)[0])?.[1] ??
                            `<${name.replace(/:2,.*$/, "")}@corpus>`;
                        messages.push({
                            user: email,
                            folder,
                            file: `${sub}/${name}`,
                            messageId,
                            content,
                            encoding: "latin1",
                            sha256: createHash("sha256").update(Buffer.from(content, "latin1")).digest("hex"),
                        });
                    }
                }
            }
        }
    }
    if (users.length === 0) throw new Error(`--corpus ${dir}: no <domain>/<user>/ Maildir found`);
    return { users, aliases: [], folders, messages, sieve };
}
