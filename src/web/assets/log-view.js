// The build log viewer: live (the SSE stream), virtualised (only the rows in view are in the
// DOM, so 100,000 lines scroll as smoothly as 100), ANSI colours as styled text nodes, steps as
// collapsible sections with status and duration, search with next/previous, line links (#L123)
// and the raw log for download.
//
// Rows have one fixed height (lines do not wrap; the log scrolls sideways instead), so the row
// at any scroll position is a division away and the scroll height is rows × height.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { ApiError, downloadRaw, followLog } from "./api.js";
import { ansiRuns, plainText } from "./ansi.js";
import { clock, span, zoneName } from "./format.js";
import { stepDuration, stepOf, stepStatus } from "./steps.js";
import { ErrorBox } from "./ui.js";

const html = htm.bind(h);

/** Row height in px (matches .log-row in style.css) and rows drawn beyond the view each side. */
const ROW = 20;
const OVERSCAN = 30;
const STATUS_LABEL = { success: "passed", fail: "failed", cancelled: "cancelled", terminated: "terminated", skipped: "skipped", running: "running", stopped: "stopped" };

function newModel() {
  return {
    ts: [],
    text: [],
    plain: [],
    lower: [],
    /** Steps: {kind, title, start}; a step ends where the next one starts. */
    steps: [],
    collapsed: new Set(),
    /** What is drawn, top to bottom: a line index (≥ 0) or a step header (-1 - step index). */
    rows: [],
    query: "",
    matches: [],
    current: -1,
    target: -1,
    build: null,
  };
}

/** Rows from lines and steps (collapsed steps show their header only). */
function buildRows(m) {
  const rows = [];
  const n = m.text.length;
  const firstStep = m.steps.length ? m.steps[0].start : n;
  for (let i = 0; i < firstStep; i++) rows.push(i);
  for (let k = 0; k < m.steps.length; k++) {
    rows.push(-1 - k);
    if (m.collapsed.has(k)) continue;
    const end = k + 1 < m.steps.length ? m.steps[k + 1].start : n;
    for (let i = m.steps[k].start; i < end; i++) rows.push(i);
  }
  m.rows = rows;
}

/** The step holding a line (-1: before any step). */
function stepIndexOf(m, line) {
  let k = -1;
  for (let i = 0; i < m.steps.length && m.steps[i].start <= line; i++) k = i;
  return k;
}

/** Row index of a line whose step is expanded. */
function rowOfLine(m, line) {
  const k = stepIndexOf(m, line);
  if (k < 0) return line;
  let row = line + k + 1;
  for (let j = 0; j < k; j++) {
    if (!m.collapsed.has(j)) continue;
    row -= m.steps[j + 1].start - m.steps[j].start;
  }
  return row;
}

/** Appends the text runs of a line to `parent`, wrapping search hits in <mark>. */
function renderText(parent, m, line) {
  const runs = ansiRuns(m.text[line]);
  const hits = [];
  if (m.query) {
    const hay = m.lower[line] ?? (m.lower[line] = m.plain[line].toLowerCase());
    for (let at = hay.indexOf(m.query); at >= 0; at = hay.indexOf(m.query, at + m.query.length)) hits.push([at, at + m.query.length]);
  }
  let offset = 0;
  let hit = 0;
  for (const run of runs) {
    const end = offset + run.text.length;
    let pos = offset;
    while (pos < end) {
      while (hit < hits.length && hits[hit][1] <= pos) hit++;
      const h0 = hit < hits.length ? hits[hit] : null;
      let stop = end;
      let marked = false;
      if (h0 && h0[0] <= pos) {
        marked = true;
        stop = Math.min(end, h0[1]);
      } else if (h0 && h0[0] < end) stop = h0[0];
      const piece = run.text.slice(pos - offset, stop - offset);
      const styled = run.fg || run.bg || run.bold || run.dim || run.italic || run.underline || run.strike;
      let node = document.createTextNode(piece);
      if (styled) {
        const s = document.createElement("span");
        if (run.fg) s.style.color = run.fg;
        if (run.bg) s.style.backgroundColor = run.bg;
        if (run.bold) s.style.fontWeight = "700";
        if (run.dim) s.style.opacity = "0.7";
        if (run.italic) s.style.fontStyle = "italic";
        const deco = [run.underline && "underline", run.strike && "line-through"].filter(Boolean).join(" ");
        if (deco) s.style.textDecoration = deco;
        s.append(node);
        node = s;
      }
      if (marked) {
        const mark = document.createElement("mark");
        mark.append(node);
        node = mark;
      }
      parent.append(node);
      pos = stop;
    }
    offset = end;
  }
}

function renderLine(m, line) {
  const row = document.createElement("div");
  row.className = "log-row ln";
  if (line === m.target) row.classList.add("target");
  if (m.current >= 0 && m.matches[m.current] === line) row.classList.add("current");
  row.dataset.line = String(line + 1);
  const num = document.createElement("a");
  num.className = "num";
  num.href = `#L${line + 1}`;
  num.textContent = String(line + 1);
  const time = document.createElement("time");
  time.textContent = clock(m.ts[line]);
  time.title = new Date(m.ts[line]).toISOString();
  const text = document.createElement("span");
  text.className = "text";
  renderText(text, m, line);
  row.append(num, time, text);
  return row;
}

function renderHeader(m, k) {
  const step = m.steps[k];
  const status = stepStatus(m.steps, k, m.build);
  const row = document.createElement("div");
  row.className = `log-row step-head step-${status}`;
  row.dataset.step = step.kind;
  row.dataset.status = status;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "toggle";
  toggle.dataset.stepIndex = String(k);
  const open = !m.collapsed.has(k);
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = `${open ? "▾" : "▸"} ${step.title}`;
  const badge = document.createElement("span");
  badge.className = "step-status";
  badge.textContent = STATUS_LABEL[status] ?? status;
  const dur = document.createElement("span");
  dur.className = "step-duration";
  dur.textContent = span(stepDuration(m.steps, k, m.ts, m.build));
  row.append(toggle, badge, dur);
  return row;
}

export function LogView({ account, uuid, build, onEnd }) {
  const box = useRef(null);
  const sizer = useRef(null);
  const win = useRef(null);
  const model = useRef(newModel());
  const follow = useRef(true);
  const painted = useRef(null);
  const endRef = useRef(onEnd);
  endRef.current = onEnd;
  const [count, setCount] = useState(0);
  const [stepsView, setStepsView] = useState([]);
  const [state, setState] = useState("connecting");
  const [following, setFollowing] = useState(true);
  const [error, setError] = useState(null);
  const [query, setQuery] = useState("");
  const [found, setFound] = useState({ current: -1, total: 0 });
  const [downloading, setDownloading] = useState(false);
  const [downloadError, setDownloadError] = useState(null);

  const paint = () => {
    const el = box.current;
    const m = model.current;
    if (!el || !win.current) return;
    sizer.current.style.height = `${m.rows.length * ROW}px`;
    const first = Math.max(0, Math.floor(el.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(m.rows.length, Math.ceil((el.scrollTop + el.clientHeight) / ROW) + OVERSCAN);
    win.current.style.transform = `translateY(${first * ROW}px)`;
    const fragment = document.createDocumentFragment();
    // Lines drawn for the previous frame are reused as they are (same query, target, match).
    const reuse = painted.current ?? new Map();
    const next = new Map();
    for (let r = first; r < last; r++) {
      const code = m.rows[r];
      if (code < 0) {
        fragment.append(renderHeader(m, -1 - code));
        continue;
      }
      const row = reuse.get(code) ?? renderLine(m, code);
      next.set(code, row);
      fragment.append(row);
    }
    win.current.replaceChildren(fragment);
    painted.current = next;
  };
  /** Drop reused rows (their marks or highlight changed), then paint. */
  const repaint = () => {
    painted.current = null;
    paint();
  };
  /** The steps bar above the log: every step with its status and duration, whatever is in view. */
  const summarize = () => {
    const m = model.current;
    setStepsView(m.steps.map((step, k) => ({ kind: step.kind, title: step.title, status: stepStatus(m.steps, k, m.build), ms: stepDuration(m.steps, k, m.ts, m.build) })));
  };
  /** Scrolls a step's header to the top of the log (expanding the step). */
  const toStep = (k) => {
    const m = model.current;
    const step = m.steps[k];
    if (!step) return;
    m.collapsed.delete(k);
    buildRows(m);
    follow.current = false;
    setFollowing(false);
    sizer.current.style.height = `${m.rows.length * ROW}px`;
    box.current.scrollTop = (rowOfLine(m, step.start) - 1) * ROW;
    paint();
  };

  const reveal = (line, { mark = false } = {}) => {
    const m = model.current;
    const k = stepIndexOf(m, line);
    if (k >= 0 && m.collapsed.has(k)) {
      m.collapsed.delete(k);
      buildRows(m);
    }
    if (mark) m.target = line;
    follow.current = false;
    setFollowing(false);
    const el = box.current;
    if (el) {
      // Laid out first: the sizer must be tall enough for the scroll position to hold.
      sizer.current.style.height = `${m.rows.length * ROW}px`;
      el.scrollTop = Math.max(0, rowOfLine(m, line) * ROW - el.clientHeight / 2 + ROW / 2);
    }
    repaint();
  };

  const followHash = () => {
    const hit = /^#L(\d+)$/.exec(location.hash);
    if (!hit) return;
    const line = Number(hit[1]) - 1;
    const m = model.current;
    m.target = line;
    if (line < m.text.length) reveal(line, { mark: true });
  };

  useEffect(() => {
    model.current = newModel();
    model.current.build = build;
    painted.current = null;
    follow.current = !/^#L\d+$/.test(location.hash);
    setFollowing(follow.current);
    setCount(0);
    setStepsView([]);
    setError(null);
    const m = model.current;
    const pendingTarget = /^#L(\d+)$/.exec(location.hash);
    if (pendingTarget) m.target = Number(pendingTarget[1]) - 1;
    let targetShown = false;
    let timer = 0;
    const flush = () => {
      timer = 0;
      const el = box.current;
      // Where the reader is now, not only what the last scroll event said.
      if (el && follow.current && el.scrollHeight - el.scrollTop - el.clientHeight >= ROW * 2) follow.current = false;
      buildRows(m);
      setCount(m.text.length);
      summarize();
      if (m.query) setFound({ current: m.current, total: m.matches.length });
      if (!targetShown && m.target >= 0 && m.target < m.text.length) {
        targetShown = true;
        reveal(m.target, { mark: true });
        return;
      }
      if (follow.current && el) {
        sizer.current.style.height = `${m.rows.length * ROW}px`;
        el.scrollTop = el.scrollHeight;
      }
      paint();
    };
    const stop = followLog(account, uuid, {
      onLine: (index, ts, text) => {
        const line = m.text.length;
        m.ts.push(ts);
        m.text.push(text);
        const plain = plainText(text);
        m.plain.push(plain);
        const c = plain.charCodeAt(0);
        // Only lines starting with I or E can start a step.
        if (c === 73 || c === 69) {
          const step = stepOf(plain);
          if (step) m.steps.push({ ...step, start: line });
        }
        if (m.query && plain.toLowerCase().includes(m.query)) m.matches.push(line);
        // Lines come in bursts: one DOM update per 50 ms, not one per line.
        if (!timer) timer = setTimeout(flush, 50);
      },
      onEnd: (end) => {
        if (timer) {
          clearTimeout(timer);
          flush();
        }
        endRef.current?.(end);
      },
      onError: setError,
      onState: setState,
    });
    window.addEventListener("hashchange", followHash);
    return () => {
      stop();
      clearTimeout(timer);
      window.removeEventListener("hashchange", followHash);
    };
  }, [account, uuid]);

  // The build's status decides the last step's status and duration; while it runs, durations move.
  useEffect(() => {
    model.current.build = build;
    paint();
    summarize();
    if (!build || build.status === "stopped") return undefined;
    const t = setInterval(() => {
      paint();
      summarize();
    }, 1000);
    return () => clearInterval(t);
  }, [build?.status, build?.build_outcome, build?.stopped_on]);

  // Search: matches over every line (escape sequences left out), case-insensitive.
  useEffect(() => {
    const m = model.current;
    const q = query.toLowerCase();
    const t = setTimeout(() => {
      m.query = q;
      m.matches = [];
      m.current = -1;
      if (q) {
        for (let i = 0; i < m.plain.length; i++) {
          const lower = m.lower[i] ?? (m.lower[i] = m.plain[i].toLowerCase());
          if (lower.includes(q)) m.matches.push(i);
        }
      }
      setFound({ current: -1, total: m.matches.length });
      if (m.matches.length) go(1, true);
      else repaint();
    }, q ? 150 : 0);
    return () => clearTimeout(t);
  }, [query]);

  /** Next (+1) or previous (-1) match; `fromView`: the first match at or below the top of the view. */
  const go = (dir, fromView = false) => {
    const m = model.current;
    if (!m.matches.length) return;
    if (fromView || m.current < 0) {
      const el = box.current;
      const topRow = el ? Math.floor(el.scrollTop / ROW) : 0;
      const topLine = m.rows.slice(topRow).find((c) => c >= 0) ?? 0;
      const i = m.matches.findIndex((l) => l >= topLine);
      m.current = dir > 0 ? (i < 0 ? 0 : i) : i <= 0 ? m.matches.length - 1 : i - 1;
    } else m.current = (m.current + dir + m.matches.length) % m.matches.length;
    setFound({ current: m.current, total: m.matches.length });
    reveal(m.matches[m.current]);
  };

  const onScroll = () => {
    const el = box.current;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW * 2;
    follow.current = atBottom;
    if (atBottom !== following) setFollowing(atBottom);
    paint();
  };
  const jump = () => {
    follow.current = true;
    setFollowing(true);
    box.current.scrollTop = box.current.scrollHeight;
    paint();
  };
  const onClick = (e) => {
    const toggle = e.target.closest?.("button.toggle");
    if (!toggle) return;
    const k = Number(toggle.dataset.stepIndex);
    const m = model.current;
    if (m.collapsed.has(k)) m.collapsed.delete(k);
    else m.collapsed.add(k);
    buildRows(m);
    paint();
  };
  const onSearchKey = (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      go(e.shiftKey ? -1 : 1);
    } else if (e.key === "Escape") setQuery("");
  };
  const download = async () => {
    setDownloading(true);
    setDownloadError(null);
    try {
      await downloadRaw(account, uuid);
    } catch (err) {
      setDownloadError(err instanceof ApiError ? err : new Error(String(err?.message ?? err)));
    } finally {
      setDownloading(false);
    }
  };
  const stateLabel = { connecting: "connecting…", live: "live", ended: "complete", reconnecting: "reconnecting…", error: "unavailable" }[state] ?? state;
  const setAllSteps = (collapsed) => {
    const m = model.current;
    m.collapsed = collapsed ? new Set(m.steps.map((_, k) => k)) : new Set();
    buildRows(m);
    paint();
  };
  return html`<section class="log-panel" data-lines=${count}>
    <header>
      <h2>Log</h2>
      <span class="muted log-meta"><span class="log-count">${count}</span> lines · <span class=${`log-state ${state}`}>${stateLabel}</span> · times in ${zoneName()}</span>
      <form class="log-search" role="search" onSubmit=${(e) => (e.preventDefault(), go(1))}>
        <input type="search" name="q" placeholder="Search the log" aria-label="Search the log" value=${query} onInput=${(e) => setQuery(e.currentTarget.value)} onKeyDown=${onSearchKey} />
        <span class="search-count muted" aria-live="polite">${query ? (found.total ? `${found.current + 1} of ${found.total}` : "no match") : ""}</span>
        <button type="button" class="secondary" id="search-prev" aria-label="Previous match" disabled=${!found.total} onClick=${() => go(-1)}>↑</button>
        <button type="button" class="secondary" id="search-next" aria-label="Next match" disabled=${!found.total} onClick=${() => go(1)}>↓</button>
      </form>
      ${stepsView.length > 0 && html`<span class="step-buttons"><button type="button" class="link" onClick=${() => setAllSteps(false)}>Expand all</button> <button type="button" class="link" onClick=${() => setAllSteps(true)}>Collapse all</button></span>`}
      <button type="button" class="secondary" id="download" disabled=${downloading} onClick=${download}>${downloading ? "Downloading…" : "Raw log"}</button>
      ${!following && html`<button type="button" class="secondary follow" onClick=${jump}>↓ Follow</button>`}
    </header>
    ${stepsView.length > 0 &&
    html`<ol class="steps-bar" aria-label="Steps">
      ${stepsView.map((st, k) => html`<li key=${k} class=${`step-${st.status}`} data-step=${st.kind} data-status=${st.status}><button type="button" class="link" onClick=${() => toStep(k)}>${st.title}</button> <span class="step-status">${STATUS_LABEL[st.status] ?? st.status}</span> <span class="step-duration">${span(st.ms)}</span></li>`)}
    </ol>`}
    <${ErrorBox} error=${error} title="The log stream failed" />
    <${ErrorBox} error=${downloadError} title="The raw log could not be downloaded" />
    <div class="log" ref=${box} onScroll=${onScroll} onClick=${onClick} tabindex="0" aria-label="Build log" data-following=${following ? "true" : "false"}>
      <div class="log-sizer" ref=${sizer}><div class="log-window" ref=${win}></div></div>
    </div>
  </section>`;
}
