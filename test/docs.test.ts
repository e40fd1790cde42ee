import assert from "node:assert/strict";
import fs from "node:fs";
import { it } from "node:test";
import { renderApiDoc } from "../scripts/api-doc.ts";

it("docs/api.md matches the route table (regenerate with: node --import tsx scripts/api-doc.ts)", () => {
  assert.equal(fs.readFileSync("docs/api.md", "utf8"), renderApiDoc());
});
