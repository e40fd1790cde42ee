/** Structured JSON logs on stderr (stdout is kept for command output). */
import { pino, type Logger } from "pino";

export function createLogger(level: string, destination: number = 2): Logger {
  return pino(
    {
      level,
      base: { service: "kiln" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // No `redact`: it costs ~10% of request throughput. Credentials stay out of logs by
      // construction instead: request lines are built field by field, never from headers.
    },
    pino.destination({ fd: destination, sync: false }),
  );
}
