/**
 * An operator's trigger that refuses some build log lines, as a constraint or an audit trigger
 * of theirs might: on SQLite `raise(abort)`, on PostgreSQL a plpgsql exception. Tests of what
 * Kiln stores when the database refuses a line use it.
 */
import { sql } from "kysely";
import type { Harness } from "./harness.ts";

/** Refuses every line whose text is LIKE `pattern`; `name` names the trigger (and function). */
export async function refuseLogLines(h: Harness, name: string, pattern: string): Promise<void> {
  const db = h.store.db.kysely;
  const trigger = sql.raw(name);
  if (h.db.name === "sqlite") {
    await sql`create trigger ${trigger} before insert on build_logs when new.text like ${sql.lit(pattern)}
      begin select raise(abort, 'refused by the operator''s trigger'); end`.execute(db);
  } else {
    await sql`create function ${trigger}() returns trigger language plpgsql as $$
      begin if new.text like ${sql.lit(pattern)} then raise exception 'refused by the operator''s trigger'; end if; return new; end $$`.execute(db);
    await sql`create trigger ${trigger} before insert on build_logs for each row execute function ${trigger}()`.execute(db);
  }
}
