/** TXT record text, as zone files, OpenDKIM's mail.txt and Cloudflare's API write it. Pure. */

/** The most bytes one character-string of a TXT record holds (RFC 1035 3.3). */
const MAX_STRING_BYTES = 255;

/** The text of `"part1" "part2"`: the quoted strings joined, escapes undone; unquoted text as it is. */
export function joinQuotedStrings(text: string): string {
    const quoted = [...text.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, "$1"));
    return quoted.length > 0 ? quoted.join("") : text;
}

/**
 * `text` as a TXT record's content in Cloudflare's API: quoted character-strings of at most
 * 255 bytes each (a DKIM key is longer), `"` and `\` escaped, never a character cut in
 * two. Cloudflare keeps content in this form and returns it so; sent as one unquoted
 * string, a long value would come back split and quoted, and every preview would show a
 * change.
 */
export function txtContent(text: string): string {
    const strings: string[] = [];
    let current = "";
    let bytes = 0;
    for (const ch of text) {
        const size = Buffer.byteLength(ch);
        if (bytes + size > MAX_STRING_BYTES) {
            strings.push(current);
            current = "";
            bytes = 0;
        }
        current += ch === '"' || ch === "\\" ? `\\${ch}` : ch;
        bytes += size;
    }
    strings.push(current);
    return strings.map((s) => `"${s}"`).join(" ");
}

/** Which mail policy a TXT value states (spf1, DKIM1, DMARC1), if any: one of each per name. */
export function policyKind(text: string): string | undefined {
    return /^v=(spf1|DKIM1|DMARC1)\b/.exec(text)?.[1];
}
