/** `npm run bench`: runs every benchmark and prints one JSON summary (figures go to docs/benchmarks.md). */
import os from "node:os";
import { benchHttp } from "./http.ts";

const summary = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  http: await benchHttp(),
};
console.log(JSON.stringify(summary, null, 2));
