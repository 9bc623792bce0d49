/** TXT record text, as zone files, OpenDKIM's mail.txt and Cloudflare's API write it. Pure. */

/** The text of `"part1" "part2"`: the quoted strings joined; unquoted text as it is. */
export function joinQuotedStrings(text: string): string {
    const quoted = [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    return quoted.length > 0 ? quoted.join("") : text;
}

/** Which mail policy a TXT value states (spf1, DKIM1, DMARC1), if any: one of each per name. */
export function policyKind(text: string): string | undefined {
    return /^v=(spf1|DKIM1|DMARC1)\b/.exec(text)?.[1];
}
