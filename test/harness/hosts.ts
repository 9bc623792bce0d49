/**
 * Test hosts (test/hosts/testhost.sh) as the tests use them: brought up and down, reached
 * over real SSH with a pinned host key, and given the project's scripts the way the
 * program gives them (lib/scripts.ts uploadCommand, the same bytes on stdin).
 */
import assert from "node:assert/strict";
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { readScript, uploadCommand } from "../../lib/scripts";
import { sshAccessCommand } from "../../lib/steps";
import { ROOT } from "./program";

const TESTHOST = path.join(ROOT, "test", "hosts", "testhost.sh");

export interface HostSpec {
    readonly name: string;
    readonly address: string;
    readonly hostname: string;
}

export interface Run {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** A set of test hosts with their own directory and an SSH client key for root. */
export class Lab {
    readonly scratch = mkdtempSync(path.join(tmpdir(), "miab-lab-"));
    readonly env = { ...process.env, MIAB_TEST_HOSTS_DIR: path.join(this.scratch, "hosts") };
    readonly key = path.join(this.scratch, "id_ed25519");
    private readonly hosts: HostSpec[] = [];

    constructor() {
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", this.key]);
    }

    testhost(...args: string[]): string {
        const r = spawnSync("bash", [TESTHOST, ...args], { env: this.env, encoding: "utf8", timeout: 120_000 });
        assert.equal(r.status, 0, `testhost ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
    }

    /**
     * Brings a host up with this lab's key authorised for root and, unless `sshAccess` is
     * false, runs the program's first command on it: this machine's address passes the
     * host's SSH rate limit (Mail-in-a-Box's `ufw limit`).
     */
    up(spec: HostSpec, { sshAccess = true } = {}): Box {
        // Registered first, so that close() takes down a host whose `up` failed half-way.
        this.hosts.push(spec);
        this.testhost("up", spec.name, spec.address, spec.hostname);
        const box = new Box(this, spec);
        box.exec("bash", "-c", `cat > /root/.ssh/authorized_keys <<'EOF'\n${readFileSync(`${this.key}.pub`, "utf8")}EOF`);
        if (sshAccess) box.step(sshAccessCommand("root", 22, "test"), readScript("ssh-access.sh"));
        return box;
    }

    /** Takes every host of this lab down and removes its files. */
    close(): void {
        for (const h of this.hosts) spawnSync("bash", [TESTHOST, "down", h.name], { env: this.env });
        rmSync(this.scratch, { recursive: true, force: true });
    }

    /** A file of host `name`, seen from this machine. */
    file(name: string, ...parts: string[]): string {
        return path.join(this.env.MIAB_TEST_HOSTS_DIR, name, ...parts);
    }
}

export class Box {
    constructor(
        readonly lab: Lab,
        readonly spec: HostSpec,
    ) {}

    get address(): string {
        return this.spec.address;
    }

    hostKey(): string {
        return this.lab.testhost("hostkey", this.spec.name).trim();
    }

    /** Runs a command on the host directly (for setting up and inspecting, not as a step). */
    exec(...command: string[]): string {
        return this.lab.testhost("exec", this.spec.name, ...command);
    }

    /** ssh's arguments to run `command` as root with the host key pinned, as pulumi-command does. */
    private sshArgs(command: string, knownKey: string): string[] {
        const known = path.join(this.lab.scratch, `known_hosts-${this.spec.name}`);
        writeFileSync(known, `${this.address} ${knownKey}\n`);
        const options = ["BatchMode=yes", "StrictHostKeyChecking=yes", `UserKnownHostsFile=${known}`].flatMap((o) => ["-o", o]);
        return ["-i", this.lab.key, ...options, `root@${this.address}`, command];
    }

    ssh(command: string, stdin = "", knownKey = this.hostKey()): Run {
        const r: SpawnSyncReturns<string> = spawnSync("ssh", this.sshArgs(command, knownKey), {
            input: stdin,
            encoding: "utf8",
            timeout: 1_800_000,
        });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    /** ssh() without blocking: the step runs while the caller does something else (or kills it). */
    sshAsync(command: string, stdin = ""): { child: ChildProcess; done: Promise<Run> } {
        const child = spawn("ssh", this.sshArgs(command, this.hostKey()));
        let stdout = "";
        let stderr = "";
        child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
        child.stdin?.end(stdin);
        const done = new Promise<Run>((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
        return { child, done };
    }

    /** Like ssh(), and the command must succeed. */
    step(command: string, stdin = ""): Run {
        const r = this.ssh(command, stdin);
        assert.equal(r.status, 0, `${command} on ${this.spec.name} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
        return r;
    }

    /** Uploads scripts/NAME the way the program does. */
    upload(...names: readonly string[]): void {
        for (const name of names) this.step(uploadCommand(name), readScript(name));
    }
}
