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
