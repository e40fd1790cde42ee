/**
 * The runner's log pipeline (splitter + masker + cap + batcher) on 1,000,000 lines of about 60
 * bytes, fed in 64 KiB chunks with 3 secrets, into an in-memory sink that checks indexes and
 * hashes what it receives. Against a baseline measured in the same run over the same chunks:
 * `chunk.toString().split("\n")` (no masking, no line reassembly, nothing stored).
 *
 * Run alone: `node --import tsx bench/logs.ts` (BENCH_LOG_LINES to change the volume).
 */
import { createHash } from "node:crypto";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import type { LogLine } from "../src/domain/build-types.ts";
import { LogPipeline } from "../src/runner/log-lines.ts";

const LINES = Number(process.env.BENCH_LOG_LINES ?? 1_000_000);
const CHUNK = 64 * 1024;
const SECRETS = ["ghp_9fQ2xLr7TzK1mWv3", "sk-live-Ab12Cd34Ef56", "p@ss.w0rd*(x)"];
const STEPS = ["compiled", "bundled", "uploaded", "resolved", "linked"];

interface Input {
  chunks: Buffer[];
  bytes: number;
  /** sha256 of the masked lines, each followed by "\n", as the sink must receive them. */
  digest: string;
}

/**
 * Deterministic build output: ~60-byte lines, one in 50 holding a secret, one in 40 a non-ASCII
 * character. Written straight into one buffer, block by block, so generating it leaves little
 * garbage behind to blur the RSS figures.
 */
function makeInput(lines: number): Input {
  const buffer = Buffer.allocUnsafe(lines * 100);
  const hash = createHash("sha256");
  let bytes = 0;
  for (let block = 0; block < lines; block += 10_000) {
    let raw = "";
    let masked = "";
    for (let i = block; i < Math.min(lines, block + 10_000); i++) {
      const step = STEPS[i % STEPS.length];
      let text = `[${String(i % 3600).padStart(4, "0")}] ${step} src/components/ui/module-${i % 977}.tsx in ${(i * 7) % 300} ms`;
      if (i % 40 === 7) text += " ✓";
      if (i % 50 === 3) {
        const secret = SECRETS[i % SECRETS.length] as string;
        raw += `${text} token=${secret}\n`;
        masked += `${text} token=***\n`;
      } else {
        raw += text + "\n";
        masked += text + "\n";
      }
    }
    bytes += buffer.write(raw, bytes);
    hash.update(masked);
  }
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes; i += CHUNK) chunks.push(buffer.subarray(i, Math.min(bytes, i + CHUNK)));
  return { chunks, bytes, digest: hash.digest("hex") };
}

interface Run {
  seconds: number;
  stored: number;
  digest: string;
  peakRss: number;
  peakHeap: number;
  /** Lines the cap's marker says it dropped (0 without a marker), and how many markers came. */
  dropped: number;
  markers: number;
}

async function pipeline(input: Input, capBytes?: number): Promise<Run> {
  const hash = createHash("sha256");
  let stored = 0;
  let dropped = 0;
  let markers = 0;
  let peakRss = 0;
  let peakHeap = 0;
  const sample = () => {
    const { rss, heapUsed } = process.memoryUsage();
    if (rss > peakRss) peakRss = rss;
    if (heapUsed > peakHeap) peakHeap = heapUsed;
  };
  sample();
  const timer = setInterval(sample, 5);
  const log = new LogPipeline({
    secrets: SECRETS,
    ...(capBytes ? { capBytes } : {}),
    flush: async (batch: LogLine[], first: number) => {
      if (first !== stored) throw new Error(`sink got line ${first}, expected ${stored}`);
      stored += batch.length;
      let text = "";
      for (const line of batch) {
        text += line[1] + "\n";
        if (line[1].startsWith("[kiln] Log cap")) {
          markers++;
          dropped = Number(/: (\d+) lines/.exec(line[1])?.[1]);
        }
      }
      hash.update(text);
    },
  });
  const start = process.hrtime.bigint();
  let n = 0;
  for (const chunk of input.chunks) {
    await log.write(chunk);
    if (++n % 64 === 0) sample();
  }
  await log.end();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(timer);
  sample();
  return { seconds, stored, digest: hash.digest("hex"), peakRss, peakHeap, dropped, markers };
}

function baseline(input: Input): { seconds: number; lines: number } {
  const start = process.hrtime.bigint();
  let lines = 0;
  for (const chunk of input.chunks) lines += chunk.toString().split("\n").length - 1;
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, lines };
}

/** A full GC, so the RSS before the run is the input plus the process, not leftovers of building it. */
function collectGarbage(): void {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
}

const mib = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;

export async function benchLogs(): Promise<Record<string, unknown>> {
  // Warm-up on a small input so both sides run optimised code.
  const warm = makeInput(50_000);
  baseline(warm);
  await pipeline(warm);

  const input = makeInput(LINES);
  collectGarbage();
  const { rss: rssBefore, heapUsed: heapBefore } = process.memoryUsage();
  const base = baseline(input);
  const run = await pipeline(input);
  if (base.lines !== LINES) throw new Error(`baseline counted ${base.lines} lines`);
  if (run.stored !== LINES) throw new Error(`sink got ${run.stored} lines, expected ${LINES}`);
  if (run.markers !== 0) throw new Error("uncapped run got a cap marker");
  if (run.digest !== input.digest) throw new Error("sink checksum differs from the expected masked output");

  // The same input with a cap at an eighth of it: head, one marker line, the last 1000 lines.
  const capBytes = Math.floor(input.bytes / 8);
  const capped = await pipeline(input, capBytes);
  if (capped.markers !== 1 || capped.stored - 1 + capped.dropped !== LINES) {
    throw new Error(`capped run: ${capped.stored} lines stored, ${capped.markers} markers, ${capped.dropped} dropped`);
  }

  const linesPerSecond = Math.round(LINES / run.seconds);
  const baselinePerSecond = Math.round(LINES / base.seconds);
  const result = {
    lines: LINES,
    megabytes: mib(input.bytes),
    averageLineBytes: Math.round(input.bytes / LINES),
    chunkBytes: CHUNK,
    secrets: SECRETS.length,
    pipelineLinesPerSecond: linesPerSecond,
    baselineLinesPerSecond: baselinePerSecond,
    baselineOverPipeline: Math.round((baselinePerSecond / linesPerSecond) * 100) / 100,
    cappedLinesPerSecond: Math.round(LINES / capped.seconds),
    cappedStoredLines: capped.stored,
    rssBeforeMiB: mib(rssBefore),
    peakRssMiB: mib(run.peakRss),
    peakRssGrowthMiB: mib(Math.max(0, run.peakRss - rssBefore)),
    peakHeapGrowthMiB: mib(Math.max(0, run.peakHeap - heapBefore)),
    checksum: "ok",
  };
  console.log(
    `logs: ${LINES} lines, pipeline ${linesPerSecond} lines/s, baseline split ${baselinePerSecond} lines/s (×${result.baselineOverPipeline}), ` +
      `capped ${result.cappedLinesPerSecond} lines/s, peak RSS ${result.peakRssMiB} MiB (+${result.peakRssGrowthMiB} over ${result.rssBeforeMiB} with the input loaded; heap +${result.peakHeapGrowthMiB} MiB), checksum ok`,
  );
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(JSON.stringify(await benchLogs(), null, 2));
}
