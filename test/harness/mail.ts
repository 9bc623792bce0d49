/** Minimal SMTP and IMAP clients over plain TCP, for talking to the test hosts. */
import { Socket, connect } from "node:net";

/** Reads lines from a socket; `until` decides when a reply is complete. */
class Conversation {
    private buffer = "";
    private closed = false;
    private waiting?: () => void;

    constructor(private readonly socket: Socket) {
        socket.setEncoding("utf8");
        socket.on("data", (chunk: string) => {
            this.buffer += chunk;
            this.waiting?.();
        });
        socket.on("close", () => {
            this.closed = true;
            this.waiting?.();
        });
    }

    static open(host: string, port: number): Promise<Conversation> {
        return new Promise((resolve, reject) => {
            const socket = connect({ host, port, timeout: 10_000 }, () => resolve(new Conversation(socket)));
            socket.on("error", reject);
            socket.on("timeout", () => socket.destroy(new Error(`timeout talking to ${host}:${port}`)));
        });
    }

    /** Waits until the buffer holds a complete reply, as `complete` judges; returns and consumes it. */
    async reply(complete: (text: string) => number): Promise<string> {
        for (;;) {
            const end = complete(this.buffer);
            if (end >= 0) {
                const text = this.buffer.slice(0, end);
                this.buffer = this.buffer.slice(end);
                return text;
            }
            if (this.closed) throw new Error(`connection closed; had ${JSON.stringify(this.buffer)}`);
            await new Promise<void>((resolve) => (this.waiting = resolve));
        }
    }

    send(line: string): void {
        this.socket.write(`${line}\r\n`);
    }

    close(): void {
        this.socket.end();
    }
}

/** An SMTP reply ends with a line "NNN text" (no dash after the code). */
const smtpComplete = (text: string) => {
    const m = /^\d{3} [^\n]*\n/m.exec(text);
    return m ? m.index + m[0].length : -1;
};

export interface SmtpResult {
    /** Reply code to each RCPT TO. */
    readonly recipients: Record<string, number>;
    /** Reply code after the message data (undefined when no recipient was accepted). */
    readonly data?: number;
}

/** Sends `message` over SMTP; without one, only asks whether each recipient is taken. */
export async function smtpSend(host: string, from: string, to: string[], message?: string): Promise<SmtpResult> {
    const c = await Conversation.open(host, 25);
    const code = async () => Number((await c.reply(smtpComplete)).slice(0, 3));
    try {
        await code();
        c.send("EHLO client.test");
        await code();
        c.send(`MAIL FROM:<${from}>`);
        await code();
        const recipients: Record<string, number> = {};
        for (const r of to) {
            c.send(`RCPT TO:<${r}>`);
            recipients[r] = await code();
        }
        if (message === undefined || !Object.values(recipients).some((x) => x < 300)) {
            c.send("QUIT");
            return { recipients };
        }
        c.send("DATA");
        await code();
        c.send(`${message.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..")}\r\n.`);
        const data = await code();
        c.send("QUIT");
        return { recipients, data };
    } finally {
        c.close();
    }
}

/** Number of messages in `folder` of `user`, as IMAP reports it. */
export async function imapCount(host: string, user: string, password: string, folder = "INBOX"): Promise<number> {
    const c = await Conversation.open(host, 143);
    const tagged = (tag: string) => (text: string) => {
        const m = new RegExp(`^${tag} [^\\n]*\\n`, "m").exec(text);
        return m ? m.index + m[0].length : -1;
    };
    try {
        await c.reply((t) => (t.includes("\n") ? t.indexOf("\n") + 1 : -1));
        c.send(`a LOGIN "${user}" "${password}"`);
        const login = await c.reply(tagged("a"));
        if (!/^a OK/m.test(login)) throw new Error(`IMAP login failed: ${login.trim()}`);
        c.send(`b EXAMINE "${folder}"`);
        const select = await c.reply(tagged("b"));
        const exists = /^\* (\d+) EXISTS/m.exec(select);
        if (!exists) throw new Error(`IMAP EXAMINE failed: ${select.trim()}`);
        c.send("c LOGOUT");
        return Number(exists[1]);
    } finally {
        c.close();
    }
}
