// Build output → styled text runs, never HTML: build output is hostile, so the log viewer only
// ever makes text nodes and class/style attributes from a fixed palette.
//
// SGR sequences (ESC [ … m: colours, bold, italic, underline…) are parsed by ansi-sequence-parser;
// every other escape or control sequence (cursor moves, erase line, OSC titles and links, lone
// ESC) and the C0 control characters but tab are dropped before, so no escape byte reaches the
// DOM. Each line is parsed on its own (the state does not carry over from the line before, as in
// GitHub Actions' viewer).
import { createColorPalette, parseAnsiSequences } from "ansi-sequence-parser";

// CSI with parameters, OSC (to BEL or ST), two-character escapes, lone ESC, C0 controls but tab.
const NON_SGR = /\u001b\[[0-9;:?<=>]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[ -/]*[0-~]|\u001b|[\u0000-\u0008\u000b-\u001f\u007f]|\u009b/g;
const SGR = /\u001b\[[0-9;]*m/g;
// SGR first in the alternation, so a complete SGR sequence is matched (and kept) whole.
const ANY = new RegExp(`${SGR.source}|${NON_SGR.source}`, "g");
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f\u009b]/;

/** The text of a line without any escape sequence (what search and copy see). */
export function plainText(text) {
  // The same single pass as ansiRuns, so a line's plain text is exactly its runs' text (search
  // hits are marked at the right places whatever the input).
  return CONTROL.test(text) ? text.replace(ANY, "") : text;
}

const palette = createColorPalette({
  black: "#4a5059",
  red: "#ff6b6b",
  green: "#5fd38d",
  yellow: "#f2c14e",
  blue: "#5aa9ff",
  magenta: "#d58cff",
  cyan: "#4fd6d6",
  white: "#d7dde3",
  brightBlack: "#8b949e",
  brightRed: "#ff9b94",
  brightGreen: "#8ff0a4",
  brightYellow: "#ffe08a",
  brightBlue: "#9cc9ff",
  brightMagenta: "#e7b3ff",
  brightCyan: "#8ff0f0",
  brightWhite: "#ffffff",
});

/** Runs of a line: [{text, fg, bg, bold, dim, italic, underline, strike}], colours as #rrggbb. */
export function ansiRuns(text) {
  if (!text.includes("\u001b")) return [{ text: plainText(text) }];
  // Keep SGR, drop everything else, then let the parser split the runs.
  const kept = text.replace(ANY, (m) => (m.endsWith("m") && /^\u001b\[[0-9;]*m$/.test(m) ? m : ""));
  const runs = [];
  for (const token of parseAnsiSequences(kept)) {
    if (!token.value) continue;
    const d = token.decorations;
    const reverse = d.has("reverse");
    let fg = token.foreground ? palette.value(token.foreground) : undefined;
    let bg = token.background ? palette.value(token.background) : undefined;
    if (reverse) [fg, bg] = [bg ?? "#111418", fg ?? "#d7dde3"];
    runs.push({
      text: d.has("hidden") ? " ".repeat(token.value.length) : token.value,
      fg,
      bg,
      bold: d.has("bold"),
      dim: d.has("dim"),
      italic: d.has("italic"),
      underline: d.has("underline"),
      strike: d.has("strikethrough"),
    });
  }
  return runs;
}
