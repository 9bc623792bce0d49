/** Reads the stack's configuration through Pulumi and validates it (lib/config.ts). */
import * as pulumi from "@pulumi/pulumi";
import { type MigrationConfig, parseConfig } from "./config";

export interface StackConfig {
    readonly config: MigrationConfig;
    /** The secret `sshPrivateKey`; parseConfig has checked that it is set. */
    readonly sshPrivateKey: pulumi.Output<string>;
}

export function readStackConfig(): StackConfig {
    const cfg = new pulumi.Config();
    const sshPrivateKey = cfg.getSecret("sshPrivateKey");
    const config = parseConfig({
        hostname: cfg.get("hostname"),
        domains: cfg.getObject("domains"),
        phase: cfg.get("phase"),
        transfer: cfg.get("transfer"),
        precopy: cfg.getObject("precopy"),
        dns: cfg.getObject("dns"),
        oldServer: cfg.getObject("oldServer"),
        newServer: cfg.getObject("newServer"),
        cutover: cfg.getObject("cutover"),
        decommission: cfg.getObject("decommission"),
        hasSshPrivateKey: sshPrivateKey !== undefined,
    });
    return { config, sshPrivateKey: sshPrivateKey as pulumi.Output<string> };
}
