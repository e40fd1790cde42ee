/** `kiln builds logs` and a build's control sequences (terminal-text.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { plainLines, terminalMode, terminalText } from "../../src/cli/client/terminal-text.ts";
import { table } from "../../src/cli/output.ts";

describe("terminal text", () => {
  const hostile =
    "a\u001b[31mred\u001b[0m \u001b]52;c;aGk=\u0007clip \u001b]0;title\u001b\\t \u001b[2K\u001b[1Aup\u001bc \u009b31m8bit \u0007bell\ttab \u001bP1$r\u001b\\dcs \u001b]unterminated";

  it("to a terminal: colour (SGR) passes, OSC 52, titles, cursor moves, erases, DCS, 8-bit CSI and bells do not; tabs stay", () => {
    assert.equal(terminalText(hostile, "colour"), "a\u001b[31mred\u001b[0m clip t up 8bit bell\ttab dcs ");
  });

  it("to a pipe or file: colour is stripped too", () => {
    assert.equal(terminalText(hostile, "plain"), "ared clip t up 8bit bell\ttab dcs ");
  });

  it("--raw writes the text unchanged, but only to a terminal", () => {
    assert.equal(terminalText(hostile, "raw"), hostile);
    assert.equal(terminalMode(true, true), "raw");
    assert.equal(terminalMode(true, false), "colour");
    assert.equal(terminalMode(false, true), "plain");
    assert.equal(terminalMode(false, false), "plain");
  });

  it("keeps ordinary text whole, multi-byte characters included", () => {
    assert.equal(terminalText("npm ✓ built in 1.2 s — ok", "colour"), "npm ✓ built in 1.2 s — ok");
  });

  it("human output (tables, key: value lines): every control sequence stripped, newlines and tabs kept, columns measured on what is shown", () => {
    assert.equal(plainLines(`commit: fix \u001b]52;c;aGk=\u0007done\nauthor:\tEve\u001b[2K`), "commit: fix done\nauthor:\tEve");
    assert.equal(table([{ name: "a\u001b[31mb\u001b[0m", n: 1 }, { name: "abc", n: 2 }], ["name", "n"]), "name  n\nab    1\nabc   2");
    assert.equal(table([{ name: "two\nlines" }], ["name"]), "name\ntwo lines");
  });
});
