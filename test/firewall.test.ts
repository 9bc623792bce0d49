import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planInbound, planOutbound } from "../lib/firewall";

const PORTS = ["tcp 25", "tcp 53", "udp 53", "tcp 80", "tcp 443", "tcp 465", "tcp 587", "tcp 993", "tcp 995", "tcp 4190"];
const ALL = ["0.0.0.0/0", "::/0"];

describe("the new box's firewall", () => {
    it("before cutover: service ports only for the admins and the old box, SSH only for the admins", () => {
        const rules = planInbound({
            adminCidrs: ["198.51.100.7/32"],
            oldServer: { ipv4: "203.0.113.10", ipv6: "2001:db8::10" },
            openToWorld: false,
        });
        assert.deepEqual(rules, [
            { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.7/32"] },
            ...PORTS.map((p) => ({
                protocol: p.split(" ")[0],
                portRange: p.split(" ")[1],
                sourceAddresses: ["198.51.100.7/32", "203.0.113.10/32", "2001:db8::10/128"],
            })),
            { protocol: "icmp", sourceAddresses: ALL },
        ]);
    });

    it("without admin networks: SSH from everywhere, service ports only from the old box", () => {
        const rules = planInbound({ adminCidrs: [], oldServer: { ipv4: "203.0.113.10" }, openToWorld: false });
        assert.deepEqual(rules[0], { protocol: "tcp", portRange: "22", sourceAddresses: ALL });
        for (const r of rules.slice(1, -1)) assert.deepEqual(r.sourceAddresses, ["203.0.113.10/32"]);
    });

    it("from cutover: service ports open to the world, SSH still restricted", () => {
        const rules = planInbound({ adminCidrs: ["198.51.100.7/32"], oldServer: { ipv4: "203.0.113.10" }, openToWorld: true });
        assert.deepEqual(rules[0].sourceAddresses, ["198.51.100.7/32"]);
        assert.deepEqual(
            rules.slice(1, -1).map((r) => `${r.protocol} ${r.portRange} ${r.sourceAddresses.join(",")}`),
            PORTS.map((p) => `${p} ${ALL.join(",")}`),
        );
    });

    it("lets the box send mail and fetch packages", () => {
        assert.deepEqual(planOutbound(), [
            { protocol: "tcp", portRange: "1-65535", destinationAddresses: ALL },
            { protocol: "udp", portRange: "1-65535", destinationAddresses: ALL },
            { protocol: "icmp", destinationAddresses: ALL },
        ]);
    });
});
