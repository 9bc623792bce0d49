/** TXT content as Cloudflare's API keeps it (lib/txt.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { joinQuotedStrings, txtContent } from "../lib/txt";

describe("txtContent", () => {
    it("quotes a short value as one string", () => {
        assert.equal(txtContent("v=spf1 mx -all"), '"v=spf1 mx -all"');
    });

    it("splits a long value (a DKIM key) into strings of 255 bytes, as Cloudflare does", () => {
        const dkim = `v=DKIM1; h=sha256; k=rsa; s=email; p=${"A".repeat(392)}`;
        const content = txtContent(dkim);
        assert.equal(content, `"${dkim.slice(0, 255)}" "${dkim.slice(255)}"`);
        assert.equal(joinQuotedStrings(content), dkim);
    });

    it("escapes quotes and backslashes, which do not count towards the 255 bytes", () => {
        const text = `${'"'.repeat(255)}\\x`;
        assert.equal(txtContent(text), `"${'\\"'.repeat(255)}" "\\\\x"`);
        assert.equal(joinQuotedStrings(txtContent(text)), text);
    });

    it("never cuts a character in two: a string ends early instead", () => {
        const text = `${"a".repeat(254)}é${"b".repeat(3)}`;
        assert.equal(txtContent(text), `"${"a".repeat(254)}" "é${"b".repeat(3)}"`);
        assert.equal(joinQuotedStrings(txtContent(text)), text);
    });

    it("quotes an empty value as one empty string", () => {
        assert.equal(txtContent(""), '""');
    });
});

describe("joinQuotedStrings", () => {
    it("joins OpenDKIM's mail.txt strings and leaves unquoted text alone", () => {
        assert.equal(joinQuotedStrings('mail._domainkey IN TXT ( "v=DKIM1; k=rsa; " "p=KEY" ) ; comment'), "v=DKIM1; k=rsa; p=KEY");
        assert.equal(joinQuotedStrings("v=spf1 -all"), "v=spf1 -all");
    });
});
