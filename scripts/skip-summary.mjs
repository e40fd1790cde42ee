// A node:test reporter that lists, at the end of the run, every test and suite that was skipped
// and why. Node's own summary counts skipped tests but not skipped suites (a `describe` with
// `skip`), so a whole suite that could not run here would otherwise read as "skipped 0".
export default async function* skipSummary(source) {
  const skipped = [];
  for await (const event of source) {
    if ((event.type === "test:pass" || event.type === "test:fail") && event.data.skip !== undefined) {
      const reason = typeof event.data.skip === "string" ? event.data.skip : "skipped";
      skipped.push(`  ${event.data.name} (${event.data.file ?? ""}): ${reason}`);
    }
  }
  yield skipped.length === 0 ? "\nskipped: none\n" : `\nskipped: ${skipped.length}\n${skipped.join("\n")}\n`;
}
