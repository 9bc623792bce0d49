/** Syntax checks for configuration values. Pure functions, no Pulumi runtime. */
import { isIPv4, isIPv6 } from "node:net";

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A fully qualified domain name: at least two labels, LDH only, lower case, no trailing dot. */
export function isFqdn(name: string): boolean {
    if (name.length > 253) return false;
    const labels = name.split(".");
    return labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** `name` equals `domain` or lies beneath it. */
export function isWithin(name: string, domain: string): boolean {
    return name === domain || name.endsWith(`.${domain}`);
}

export { isIPv4, isIPv6 };

/** An IPv4 or IPv6 CIDR block such as 203.0.113.0/24 or 2001:db8::/32. */
export function isCidr(value: string): boolean {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
    if (!m) return false;
    const bits = Number(m[2]);
    if (isIPv4(m[1])) return bits <= 32;
    if (isIPv6(m[1])) return bits <= 128;
    return false;
}

/** An OpenSSH public key line as found in /etc/ssh/ssh_host_*_key.pub (comment optional). */
export function isSshPublicKey(value: string): boolean {
    return /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}( \S.*)?$/.test(value.trim());
}
