// The part of @npmcli/config (npm's own config loader) Kiln uses; the package ships no types.
declare module "@npmcli/config" {
  export default class Config {
    constructor(options: { definitions: unknown; flatten: unknown; shorthands: unknown; npmPath: string; argv: string[]; env: NodeJS.ProcessEnv; cwd: string; execPath?: string; platform?: string });
    load(): Promise<void>;
    readonly flat: Record<string, unknown>;
  }
}
declare module "@npmcli/config/lib/definitions/index.js" {
  const defs: { definitions: unknown; flatten: unknown; shorthands: unknown };
  export default defs;
}
