/**
 * The sandbox's options (--build-network, --build-network-allow, --build-uids, --build-cpus,
 * --build-root) as the configuration parses them, the firewall they produce, and the uid claims.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, runnerCommandOptions } from "../../src/config.ts";
import { parseCidr } from "../../src/domain/cidr.ts";
import { execFileSync } from "node:child_process";
import { detectNetwork, networkRules, sweepNetworks } from "../../src/runner/build-network.ts";
import { claimUid } from "../../src/runner/build-uids.ts";
import { effectiveCpus } from "../../src/runner/build-sandbox.ts";
import { DENIED_SYSCALLS, seccompFilter } from "../../src/runner/seccomp.ts";

const base = { dataDir: "/tmp/unused-kiln-data" };

describe("sandbox configuration", () => {
  it("defaults: isolated network, nothing allowed, uids 1000000-1065535, 4 CPUs, the host's root", () => {
    const c = loadConfig(base, {}, runnerCommandOptions);
    assert.equal(c.buildNetwork, "isolated");
    assert.deepEqual(c.buildNetworkAllow, []);
    assert.deepEqual(c.buildUids, { first: 1_000_000, last: 1_065_535 });
    assert.equal(c.buildCpus, 4);
    assert.equal(c.buildRoot, undefined);
    assert.equal(effectiveCpus(4), Math.min(4, os.availableParallelism()));
    assert.equal(effectiveCpus(0.5), 0.5);
  });

  it("flags beat variables; the allow list takes repeated flags or a comma list, in canonical form", () => {
    const fromEnv = loadConfig(base, { KILN_BUILD_NETWORK: "none", KILN_BUILD_NETWORK_ALLOW: "10.1.2.3/24, fd00::1/8,192.0.2.7", KILN_BUILD_UIDS: "200000-200009", KILN_BUILD_CPUS: "1.5" }, runnerCommandOptions);
    assert.equal(fromEnv.buildNetwork, "none");
    assert.deepEqual(fromEnv.buildNetworkAllow.map((c) => c.text), ["10.1.2.0/24", "fd00::/8", "192.0.2.7"]);
    assert.deepEqual(fromEnv.buildUids, { first: 200_000, last: 200_009 });
    assert.equal(fromEnv.buildCpus, 1.5);
    const fromFlags = loadConfig({ ...base, buildNetwork: "host", buildNetworkAllow: ["172.16.0.0/12"] }, { KILN_BUILD_NETWORK: "none" }, runnerCommandOptions);
    assert.equal(fromFlags.buildNetwork, "host");
    assert.deepEqual(fromFlags.buildNetworkAllow, [{ family: 4, text: "172.16.0.0/12" }]);
  });

  it("bad values name the flag and the variable", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ buildNetwork: "bridge" }, /invalid --build-network \(or KILN_BUILD_NETWORK\): must be isolated, host or none/],
      [{ buildNetworkAllow: ["10.0.0.0/33"] }, /invalid --build-network-allow \(or KILN_BUILD_NETWORK_ALLOW\): "10.0.0.0\/33" is not an IPv4 or IPv6 address or CIDR block/],
      [{ buildNetworkAllow: ["registry.internal"] }, /invalid --build-network-allow/],
      [{ buildUids: "5-1" }, /invalid --build-uids \(or KILN_BUILD_UIDS\): must be FIRST-LAST/],
      [{ buildUids: "0-10" }, /invalid --build-uids/],
      [{ buildCpus: "0" }, /invalid --build-cpus \(or KILN_BUILD_CPUS\): must be at least 0.01/],
      [{ buildRoot: "/does/not/exist" }, /invalid --build-root \(or KILN_BUILD_ROOT\): must be a directory holding usr\/ and etc\//],
    ];
    for (const [flags, message] of bad) assert.throws(() => loadConfig({ ...base, ...flags }, {}, runnerCommandOptions), (e: unknown) => e instanceof ConfigError && message.test(e.message), JSON.stringify(flags));
  });

  it("--build-root takes a directory with usr/ and etc/, resolved to an absolute path", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-root-"));
    try {
      fs.mkdirSync(path.join(dir, "usr"));
      fs.mkdirSync(path.join(dir, "etc"));
      const c = loadConfig({ ...base, buildRoot: path.relative(process.cwd(), dir) }, {}, runnerCommandOptions);
      assert.equal(c.buildRoot, dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the build network's firewall", () => {
  it("accepts loopback and DNS to the NAT, refuses the host's addresses whatever is allowed, then accepts allowed ranges, then refuses private ranges", () => {
    const rules = networkRules([parseCidr("10.99.0.0/24")!], [parseCidr("192.0.2.2")!, parseCidr("2001:db8::2")!]);
    const order = ['oifname "lo" accept', "ip daddr 10.0.2.3 meta l4proto { tcp, udp } th dport 53 accept", "ip daddr @host4 meta l4proto tcp reject with tcp reset", "ip daddr @allow4 accept", "ip daddr @deny4 meta l4proto tcp reject with tcp reset"];
    const at = order.map((line) => rules.indexOf(line));
    assert.ok(at.every((i) => i > 0), rules);
    assert.deepEqual([...at].sort((a, b) => a - b), at, "in this order");
    assert.match(rules, /set allow4 \{ type ipv4_addr; flags interval; auto-merge; elements = \{ 10\.99\.0\.0\/24 \}; \}/);
    assert.match(rules, /set deny4 \{[^}]*elements = \{ 0\.0\.0\.0\/8, 10\.0\.0\.0\/8, 100\.64\.0\.0\/10, 127\.0\.0\.0\/8, 169\.254\.0\.0\/16, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 224\.0\.0\.0\/4, 240\.0\.0\.0\/4 \}/);
    assert.match(rules, /set host4 \{[^}]*elements = \{ 192\.0\.2\.2 \}/);
    assert.match(rules, /set host6 \{[^}]*elements = \{ 2001:db8::2 \}/);
    assert.match(rules, /set deny6 \{[^}]*fc00::\/7, fe80::\/10/);
    assert.match(rules, /set allow6 \{ type ipv6_addr; flags interval; auto-merge; \}/, "an empty set has no elements clause");
  });
});

describe("build uids", () => {
  it("concurrent claims get different uids of the range; a released uid can be claimed again; a full range refuses", async () => {
    const range = { first: 1_065_600, last: 1_065_603 };
    const claims = await Promise.all([0, 1, 2, 3].map(() => claimUid(range)));
    const uids = claims.map((c) => c.uid).sort();
    assert.deepEqual(uids, [1_065_600, 1_065_601, 1_065_602, 1_065_603]);
    await assert.rejects(claimUid(range), /every uid of --build-uids 1065600-1065603 is in use by a running build/);
    const freed = claims[2]!.uid;
    await claims[2]!.release();
    const again = await claimUid(range);
    assert.equal(again.uid, freed);
    for (const c of [...claims.filter((_, i) => i !== 2), again]) await c.release();
  });
});

describe("network namespaces of dead runners", () => {
  it("are removed by the next runner's sweep; a live runner's are kept", async (t) => {
    const support = await detectNetwork();
    if (!support.isolated) return t.skip(`isolated build network unavailable here: ${support.detail}`);
    // A pid that is no process (past the kernel's pid_max default of 4194304).
    const dead = `kiln-4194999-${Date.now().toString(16)}`;
    const live = `kiln-${process.ppid}-${Date.now().toString(16)}`;
    execFileSync("ip", ["netns", "add", dead]);
    execFileSync("ip", ["netns", "add", live]);
    try {
      assert.ok((await sweepNetworks()) >= 1);
      const left = fs.readdirSync("/run/netns");
      assert.ok(!left.includes(dead), "the dead runner's namespace is gone");
      assert.ok(left.includes(live), "a live process's namespace stays");
    } finally {
      for (const name of [dead, live]) {
        try {
          execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
        } catch {
          // already removed
        }
      }
    }
  });
});

describe("the seccomp program", () => {
  it("checks the architecture, refuses x32 and the listed calls on x86_64 and i386, ENOSYS elsewhere", () => {
    const prog = seccompFilter("x86_64");
    assert.ok(prog && prog.length % 8 === 0 && prog.length / 8 < 4096);
    const ins = Array.from({ length: (prog?.length ?? 0) / 8 }, (_, i) => ({ code: prog!.readUInt16LE(i * 8), jt: prog!.readUInt8(i * 8 + 2), jf: prog!.readUInt8(i * 8 + 3), k: prog!.readUInt32LE(i * 8 + 4) }));
    // A tiny interpreter of the program for one (arch, nr).
    const verdict = (arch: number, nr: number) => {
      let a = 0;
      for (let pc = 0; pc < ins.length; ) {
        const i = ins[pc]!;
        if (i.code === 0x20) (a = i.k === 4 ? arch : nr), pc++;
        else if (i.code === 0x15) pc += 1 + (a === i.k ? i.jt : i.jf);
        else if (i.code === 0x35) pc += 1 + (a >= i.k ? i.jt : i.jf);
        else if (i.code === 0x06) return i.k;
        else throw new Error(`unknown op ${i.code}`);
      }
      throw new Error("fell off the end");
    };
    const ALLOW = 0x7fff0000;
    const EPERM = 0x00050001;
    assert.equal(verdict(0xc000003e, 39), ALLOW, "getpid");
    assert.equal(verdict(0xc000003e, 0), ALLOW, "read");
    for (const nr of [250, 248, 249, 321, 298, 323, 425, 426, 427, 246, 304, 175, 169]) assert.equal(verdict(0xc000003e, nr), EPERM, `x86_64 ${nr}`);
    assert.equal(verdict(0xc000003e, 0x40000000 + 39), EPERM, "x32 calls");
    assert.equal(verdict(0x40000003, 288), EPERM, "i386 keyctl");
    assert.equal(verdict(0x40000003, 20), ALLOW, "i386 getpid");
    assert.equal(verdict(0xc00000b7, 219), 0x00050000 + 38, "another architecture: ENOSYS");
    assert.equal(seccompFilter("riscv64"), undefined, "no table: no filter (said in the sandbox line)");
    assert.deepEqual(DENIED_SYSCALLS.slice(0, 3), ["keyctl", "add_key", "request_key"]);
  });
});
