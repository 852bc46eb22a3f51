const store = new WeakMap<object, Map<string | symbol | undefined, Map<unknown, unknown>>>();
const R = Reflect as unknown as Record<string, unknown>;
function own(target: object, prop: string | symbol | undefined, create: boolean): Map<unknown, unknown> | undefined {
  let byProp = store.get(target);
  if (!byProp) { if (!create) return undefined; byProp = new Map(); store.set(target, byProp); }
  let m = byProp.get(prop);
  if (!m) { if (!create) return undefined; m = new Map(); byProp.set(prop, m); }
  return m;
}
if (typeof R.getMetadata !== 'function') {
  R.defineMetadata = (k: unknown, v: unknown, t: object, p?: string | symbol) => { own(t, p, true)!.set(k, v); };
  R.getOwnMetadata = (k: unknown, t: object, p?: string | symbol) => own(t, p, false)?.get(k);
  R.hasOwnMetadata = (k: unknown, t: object, p?: string | symbol) => own(t, p, false)?.has(k) ?? false;
  R.getMetadata = (k: unknown, t: object, p?: string | symbol) => { for (let o: object | null = t; o !== null; o = Object.getPrototypeOf(o)) { const m = own(o, p, false); if (m?.has(k)) return m.get(k); } return undefined; };
  R.hasMetadata = (k: unknown, t: object, p?: string | symbol) => (R.getMetadata as Function)(k, t, p) !== undefined;
  R.metadata = (k: unknown, v: unknown) => (t: object, p?: string | symbol) => { own(t, p, true)!.set(k, v); };
}
export {};
