/** What the mocks return for resources the program creates. */
export const MOCK = {
    dropletIpv4: "203.0.113.50",
    dropletIpv6: "2001:db8:50::2",
    dropletId: "4242",
    hostKeyPublic: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockHostKeyMockHostKeyMockHostKeyMockHostKey",
    hostKeyPrivate: "-----BEGIN OPENSSH PRIVATE KEY-----\nbW9jayBob3N0IGtleQ==\n-----END OPENSSH PRIVATE KEY-----\n",
    authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockOperatorKeyMockOperatorKeyMockOperator",
    password: "mockpasswordmockpasswordmockpass",
};

/** What inventory.sh would print for a small box named `hostname`. */
export function mockInventory(hostname: string, dkim: string) {
    return {
        hostname,
        miabVersion: "v68",
        ubuntu: "22.04",
        storageRoot: "/home/user-data",
        users: [{ email: `admin@${hostname}`, privileges: "admin", quota: "0" }],
        aliases: [{ source: `postmaster@${hostname}`, destination: `admin@${hostname}`, permittedSenders: "" }],
        domains: [hostname],
        mailboxes: [
            {
                user: `admin@${hostname}`,
                folders: [
                    { name: "INBOX", messages: 3, bytes: 4200, digest: "d1" },
                    { name: "Sent", messages: 1, bytes: 900, digest: "d2" },
                ],
            },
        ],
        dkim,
        diskUsedBytes: 2_000_000_000,
        diskTotalBytes: 25_000_000_000,
        backup: { target: "local", latest: "2026-11-20T03:00:00Z" },
    };
}
