// Opens the database given on the command line, applies migrations, prints what it applied.
import { openDatabase } from "../../src/store/database.ts";
import { migrate } from "../../src/store/migrate.ts";

const [dataDir, database] = process.argv.slice(2);
const db = openDatabase({ dataDir: dataDir ?? ".", database: database || undefined });
const applied = await migrate(db);
await db.close();
process.stdout.write(JSON.stringify(applied));
