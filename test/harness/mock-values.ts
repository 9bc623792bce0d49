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

/** What health.sh would print for a new box that serves, before the cutover. */
export const MOCK_HEALTH = {
    services: { postfix: "active", dovecot: "active", nginx: "active" },
    tls: { imaps: { ok: true, detail: "TLSv1.3" }, submission: { ok: true, detail: "TLSv1.3" } },
    statusChecks: [
        { type: "heading", text: "System" },
        { type: "ok", text: "All system services are running." },
        { type: "error", text: "This domain's DNS MX record is not set. It should be box.miab-staging.example." },
    ],
    statusError: null,
};
