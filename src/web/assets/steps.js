// A build's steps, recovered from the lines the runner already writes (Cloudflare's wording):
//
//   "Initializing build environment..."           → Initializing and clone
//   "Installing project dependencies: <command>"  → Install
//   "Executing user build command: <command>"     → Build
//   "Executing user deploy command: <command>"    → Deploy
//
// A step runs from its first line to the line before the next step's; its duration from its
// first line's time to the next step's first (the last step: to the build's end, or now). Every
// step before the last succeeded (the runner stops at the first that fails); the last one has the
// build's outcome. Lines before the first marker (none in Kiln's logs) belong to no step.

const MARKERS = [
  [/^Initializing build environment\.\.\./, "init", "Initializing and clone"],
  [/^Installing project dependencies: /, "install", "Install"],
  [/^Executing user build command: /, "build", "Build"],
  [/^Executing user deploy command: /, "deploy", "Deploy"],
];

/** The step a line starts, or null. */
export function stepOf(text) {
  for (const [re, kind, title] of MARKERS) if (re.test(text)) return { kind, title };
  return null;
}

/** Step status for display: the build's outcome for the last step, success before it. */
export function stepStatus(steps, index, build) {
  if (index < steps.length - 1) return "success";
  if (!build || build.status !== "stopped") return "running";
  return build.build_outcome ?? "stopped";
}

/** Duration of step `index` in ms, given line timestamps. */
export function stepDuration(steps, index, ts, build, now = Date.now()) {
  const step = steps[index];
  const start = ts[step.start];
  if (start === undefined) return 0;
  if (index < steps.length - 1) return (ts[steps[index + 1].start] ?? start) - start;
  const end = build?.stopped_on ? Date.parse(build.stopped_on) : build && build.status !== "stopped" ? now : ts[ts.length - 1];
  return Math.max(0, (end ?? start) - start);
}
