/**
 * Caps on live streams held open at once, per credential (a token, or a user's global key) and
 * per account, counted on this API node: every open stream polls the store, so their number must
 * be bounded (--log-streams-per-token, --log-streams-per-account). Log streams and account event
 * streams are counted apart, each against the same two limits.
 */
import type { Principal } from "../domain/types.ts";
import { errors } from "../errors.ts";
import type { AppDeps } from "./deps.ts";

export type StreamKind = "logs" | "events";

interface Counts {
  byCredential: Map<string, number>;
  byAccount: Map<string, number>;
}

/** Per app (tests run several apps in one process) and per kind. */
const openStreams = new WeakMap<AppDeps, Record<StreamKind, Counts>>();

const add = (map: Map<string, number>, key: string, by: number) => {
  const n = (map.get(key) ?? 0) + by;
  if (n === 0) map.delete(key);
  else map.set(key, n);
};

/** Counts a stream against both caps, or throws 429 naming the one it would exceed; answers its release. */
export function reserveStream(deps: AppDeps, principal: Principal, accountId: string, kind: StreamKind): () => void {
  let all = openStreams.get(deps);
  if (!all) {
    all = { logs: { byCredential: new Map(), byAccount: new Map() }, events: { byCredential: new Map(), byAccount: new Map() } };
    openStreams.set(deps, all);
  }
  const { byCredential, byAccount } = all[kind];
  const who = principal.kind === "token" ? `token:${principal.token.id}` : `user:${principal.user.id}`;
  const perToken = deps.config.logStreamsPerToken;
  const perAccount = deps.config.logStreamsPerAccount;
  const refuse = kind === "logs" ? errors.tooManyLogStreams : errors.tooManyEventStreams;
  if ((byCredential.get(who) ?? 0) >= perToken) throw refuse(principal.kind === "token" ? "this token" : "this user", perToken);
  if ((byAccount.get(accountId) ?? 0) >= perAccount) throw refuse("this account", perAccount);
  add(byCredential, who, 1);
  add(byAccount, accountId, 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    add(byCredential, who, -1);
    add(byAccount, accountId, -1);
  };
}
