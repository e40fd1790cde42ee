/**
 * The per-request logger, made only when something logs. Fastify gives every request a pino
 * child bound to its request id; making it (bindings serialised, an object per request) cost
 * ~2% of a cached token verify's CPU, and most successful reads log nothing at the default level.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions, Logger } from "pino";

type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
type LogFn = (...args: unknown[]) => void;

class LazyChild {
  private made: Logger | undefined;
  constructor(
    // Kiln's logger is pino's (Fastify's base type leaves isLevelEnabled out).
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}
  private real(): Logger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }
  get level(): string {
    return this.made?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.real().level = level;
  }
  private log(level: Level, args: unknown[]): void {
    // Below the level nothing is made: pino would drop the line anyway.
    if (this.made === undefined && !this.parent.isLevelEnabled(level)) return;
    (this.real()[level] as LogFn)(...args);
  }
  fatal(...args: unknown[]) {
    this.log("fatal", args);
  }
  error(...args: unknown[]) {
    this.log("error", args);
  }
  warn(...args: unknown[]) {
    this.log("warn", args);
  }
  info(...args: unknown[]) {
    this.log("info", args);
  }
  debug(...args: unknown[]) {
    this.log("debug", args);
  }
  trace(...args: unknown[]) {
    this.log("trace", args);
  }
  silent() {}
  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real().child(bindings, options);
  }
  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }
}

export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChild(parent as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger;
}
