/**
 * The new box's DigitalOcean firewall, as plain rules. Ports are exactly those
 * Mail-in-a-Box's setup opens with ufw (setup/system.sh, setup/dns.sh, setup/mail-*.sh).
 */

export interface PortRule {
    readonly protocol: "tcp" | "udp" | "icmp";
    /** Absent for ICMP. */
    readonly port?: number;
    readonly service: string;
}

/** SSH, reachable from the admin networks (or everywhere when none are given). */
export const SSH: PortRule = { protocol: "tcp", port: 22, service: "ssh" };

/** Every other port Mail-in-a-Box opens. */
export const SERVICE_PORTS: readonly PortRule[] = [
    { protocol: "tcp", port: 25, service: "smtp" },
    { protocol: "tcp", port: 53, service: "dns" },
    { protocol: "udp", port: 53, service: "dns" },
    { protocol: "tcp", port: 80, service: "http" },
    { protocol: "tcp", port: 443, service: "https" },
    { protocol: "tcp", port: 465, service: "smtps" },
    { protocol: "tcp", port: 587, service: "submission" },
    { protocol: "tcp", port: 993, service: "imaps" },
    { protocol: "tcp", port: 995, service: "pop3s" },
    { protocol: "tcp", port: 4190, service: "managesieve" },
];

export const EVERYWHERE = ["0.0.0.0/0", "::/0"];

export interface InboundRule {
    readonly protocol: "tcp" | "udp" | "icmp";
    readonly portRange?: string;
    readonly sourceAddresses: string[];
}

export interface OutboundRule {
    readonly protocol: "tcp" | "udp" | "icmp";
    readonly portRange?: string;
    readonly destinationAddresses: string[];
}

export interface FirewallPlanInput {
    /** Networks allowed to SSH in; empty means everywhere. */
    readonly adminCidrs: readonly string[];
    /** The old box's addresses, which reach the new box's mail ports before cutover. */
    readonly oldServer: { readonly ipv4: string; readonly ipv6?: string };
    /** From cutover on, the mail and web ports are open to the world. */
    readonly openToWorld: boolean;
}

export function planInbound(input: FirewallPlanInput): InboundRule[] {
    const ssh = input.adminCidrs.length > 0 ? [...input.adminCidrs] : [...EVERYWHERE];
    // Before cutover, mail that reached the new box would be overwritten by the restore
    // (Mail-in-a-Box #2534): only the admins and the old box may connect.
    const services = input.openToWorld
        ? [...EVERYWHERE]
        : [...input.adminCidrs, `${input.oldServer.ipv4}/32`, ...(input.oldServer.ipv6 ? [`${input.oldServer.ipv6}/128`] : [])];
    return [
        { protocol: SSH.protocol, portRange: String(SSH.port), sourceAddresses: ssh },
        ...SERVICE_PORTS.map((p) => ({ protocol: p.protocol, portRange: String(p.port), sourceAddresses: [...services] })),
        // ufw's default before.rules accept ICMP; IPv6 path MTU discovery needs it.
        { protocol: "icmp", sourceAddresses: [...EVERYWHERE] },
    ];
}

/** A DigitalOcean firewall without outbound rules blocks all egress: the box must send mail and fetch packages. */
export function planOutbound(): OutboundRule[] {
    return [
        { protocol: "tcp", portRange: "1-65535", destinationAddresses: [...EVERYWHERE] },
        { protocol: "udp", portRange: "1-65535", destinationAddresses: [...EVERYWHERE] },
        { protocol: "icmp", destinationAddresses: [...EVERYWHERE] },
    ];
}
