/** The command lines of the on-demand tools (npm run rehearse, npm run bench:freeze). */
import { parseArgs } from "node:util";

/**
 * The string options `names` of `argv`. Anything else on the command line, or a value out
 * of range, is an Error that says what is wrong, followed by `usage`.
 */
export class CommandLine {
    private readonly values: Record<string, string | undefined>;

    constructor(
        argv: string[],
        names: readonly string[],
        private readonly usage: string,
    ) {
        try {
            const options = Object.fromEntries(names.map((n) => [n, { type: "string" as const }]));
            this.values = parseArgs({ args: argv, options, strict: true }).values as Record<string, string | undefined>;
        } catch (e) {
            throw this.error(e instanceof Error ? e.message : String(e));
        }
    }

    string(name: string): string | undefined {
        return this.values[name];
    }

    /** `--name`'s value as a number from `min` to `max` (a whole one if `whole`), else `def`. */
    number(name: string, def: number, min: number, max: number, whole: boolean): number {
        const raw = this.values[name];
        const v = raw === undefined ? def : Number(raw);
        if (!Number.isFinite(v) || v < min || v > max || (whole && !Number.isInteger(v))) {
            throw this.error(`--${name} must be ${whole ? "a whole number" : "a number"} from ${min} to ${max} (got "${raw}")`);
        }
        return v;
    }

    error(message: string): Error {
        return new Error(`${message}; ${this.usage}`);
    }
}
