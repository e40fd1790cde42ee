import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { withLock } from "../../src/git/lock.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("mirror lock", () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-lock-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("serializes callers in one process, in order", async () => {
    const lock = path.join(dir, "a.lock");
    const events: string[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        withLock(lock, async () => {
          events.push(`in${n}`);
          await sleep(20);
          events.push(`out${n}`);
        }),
      ),
    );
    assert.deepEqual(events, ["in1", "out1", "in2", "out2", "in3", "out3"]);
    assert.ok(!fs.existsSync(lock));
  });

  it("a failing holder releases the lock", async () => {
    const lock = path.join(dir, "b.lock");
    await assert.rejects(withLock(lock, async () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(await withLock(lock, async () => 42), 42);
  });

  it("waits for a lock file held by another live process, then takes it", async () => {
    const lock = path.join(dir, "c.lock");
    const script = `const fs=require("fs");fs.writeFileSync(${JSON.stringify(lock)}, process.pid+" "+require("os").hostname()+" 0",{flag:"wx"});console.log("held");setTimeout(()=>{fs.rmSync(${JSON.stringify(lock)});process.exit(0)},400);`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((resolve) => child.stdout.once("data", resolve));
    const started = Date.now();
    await withLock(lock, async () => undefined);
    assert.ok(Date.now() - started >= 250, "waited for the other process");
  });

  it("takes over a lock file left by a dead process", async () => {
    const lock = path.join(dir, "d.lock");
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.on("exit", resolve));
    fs.writeFileSync(lock, `${child.pid} ${os.hostname()} 0`);
    const started = Date.now();
    assert.equal(await withLock(lock, async () => "mine", { timeoutMs: 2000 }), "mine");
    assert.ok(Date.now() - started < 1000);
  });

  it("gives up after its timeout", async () => {
    const lock = path.join(dir, "e.lock");
    fs.writeFileSync(lock, `${process.ppid} ${os.hostname()} 0`);
    await assert.rejects(withLock(lock, async () => undefined, { timeoutMs: 200 }), /timed out/);
    fs.rmSync(lock);
  });
  it("a caller queued behind a holder in this process stops waiting on its own signal; the order stays", async () => {
    const lock = path.join(dir, "queued.lock");
    const events: string[] = [];
    let release!: () => void;
    const holder = withLock(lock, async () => {
      await new Promise<void>((resolve) => (release = resolve));
      events.push("holder out");
    });
    const stopped = new AbortController();
    const waiting = withLock(lock, async () => void events.push("never"), { signal: stopped.signal });
    const third = withLock(lock, async () => void events.push("third in"));
    await sleep(50);
    const started = performance.now();
    stopped.abort("cancelled");
    await assert.rejects(waiting, /cancelled/);
    assert.ok(performance.now() - started < 100);
    release();
    await holder;
    await third;
    assert.deepEqual(events, ["holder out", "third in"]);
    assert.ok(!fs.existsSync(lock));
  });
});
