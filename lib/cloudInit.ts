/** cloud-init user data for the new droplet. Pure. */

export interface CloudInitInput {
    /** The box's SSH host key, owned by the stack (OpenSSH private key format). */
    readonly hostKeyPrivate: string;
    readonly hostKeyPublic: string;
    /** Public half of `sshPrivateKey`, so the program can log in as root. */
    readonly authorizedKey: string;
}

const indent = (text: string, by: string) =>
    text
        .trimEnd()
        .split("\n")
        .map((l) => by + l)
        .join("\n");

/**
 * Pre-seeds the host key so that the first SSH connection is already verified (no trust on
 * first use), and removes every other host key type so that no other key can be offered.
 * cloud-init writes the keys before ssh.service starts (cloud-init.service is ordered
 * before it).
 */
export function renderCloudInit(input: CloudInitInput): string {
    return [
        "#cloud-config",
        "# miab-migrate: SSH host key pinned by the Pulumi stack; no other host key types.",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        indent(input.hostKeyPrivate, "    "),
        `  ed25519_public: ${input.hostKeyPublic.trim()}`,
        "ssh_authorized_keys:",
        `  - ${input.authorizedKey.trim()}`,
        "",
    ].join("\n");
}
