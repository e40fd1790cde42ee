/**
 * A build's output is written by a stranger: printed raw to a terminal, its escape sequences can
 * set the clipboard (OSC 52), the window title, move the cursor or erase lines. `kiln builds logs`
 * passes colour (SGR, `ESC [ … m`) to a terminal and strips every other control sequence and
 * control character (tabs kept); when stdout is not a terminal it strips colour too. `--raw`
 * writes the text as it is, and only to a terminal.
 */

export type TerminalMode = "raw" | "colour" | "plain";

/** What `kiln builds logs` writes: raw only when asked and stdout is a terminal. */
export function terminalMode(isTTY: boolean, raw: boolean): TerminalMode {
  if (!isTTY) return "plain";
  return raw ? "raw" : "colour";
}

/**
 * One control construct, tried in this order at each position: a CSI sequence (ESC [ or the
 * 8-bit U+009B, parameters, intermediates, final byte); a string sequence (OSC, DCS, SOS, PM, APC,
 * 7- or 8-bit) up to BEL or ST, or to the end of the line when unterminated; any other escape
 * (ESC and the next character); a lone C0 control but tab, DEL, or a C1 control.
 */
const CONTROL = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u0090\u0098\u009d-\u009f])[\s\S]*?(?:\u0007|\u001b\\|\u009c|$)|\u001b[\s\S]?|[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;
const SGR = /^\u001b\[[0-9;:]*m$/;

export function terminalText(text: string, mode: TerminalMode): string {
  if (mode === "raw") return text;
  return text.replace(CONTROL, (match) => (mode === "colour" && SGR.test(match) ? match : ""));
}

/**
 * Human output made of lines (tables, `key: value` details): every control sequence and control
 * character stripped from each line, newlines and tabs kept. Fields such as a commit message, an
 * author or a trigger name come from whoever pushed a commit or called the API.
 */
export function plainLines(text: string): string {
  return text.split("\n").map((line) => terminalText(line, "plain")).join("\n");
}
