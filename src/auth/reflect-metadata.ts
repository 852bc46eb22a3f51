/**
 * auth/reflect-metadata — the part of the (TC39-stage-0, TypeScript-era) Reflect Metadata API that @peculiar/x509's
 * dependency injector (tsyringe) requires to be present before it loads: `Reflect.defineMetadata`, `getMetadata`,
 * `getOwnMetadata`, `hasMetadata`, `hasOwnMetadata`, `metadata`. Only installed when absent, so a process that loads
 * the `reflect-metadata` package itself keeps that one.
 *
 * Why here and not the npm polyfill: it is 30 lines over a WeakMap and adding a dependency is not ours to decide.
 * Imported for its side effect by auth/x509-runtime only, ahead of @peculiar/x509 (ES modules evaluate their
 * imports in order).
 */
type Key = string | symbol | undefined;
const table = new WeakMap<object, Map<Key, Map<unknown, unknown>>>();

function slot(target: object, prop: Key, create: boolean): Map<unknown, unknown> | undefined {
  let byProp = table.get(target);
  if (byProp === undefined) {
    if (!create) return undefined;
    byProp = new Map();
    table.set(target, byProp);
  }
  let m = byProp.get(prop);
  if (m === undefined) {
    if (!create) return undefined;
    m = new Map();
    byProp.set(prop, m);
  }
  return m;
}

function lookup(key: unknown, target: object, prop: Key): unknown {
  for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const m = slot(o, prop, false);
    if (m?.has(key) === true) return m.get(key);
  }
  return undefined;
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  Object.assign(R, {
    defineMetadata: (key: unknown, value: unknown, target: object, prop?: Key): void => void slot(target, prop, true)!.set(key, value),
    getOwnMetadata: (key: unknown, target: object, prop?: Key): unknown => slot(target, prop, false)?.get(key),
    hasOwnMetadata: (key: unknown, target: object, prop?: Key): boolean => slot(target, prop, false)?.has(key) ?? false,
    getMetadata: (key: unknown, target: object, prop?: Key): unknown => lookup(key, target, prop),
    hasMetadata: (key: unknown, target: object, prop?: Key): boolean => lookup(key, target, prop) !== undefined,
    metadata:
      (key: unknown, value: unknown) =>
      (target: object, prop?: Key): void =>
        void slot(target, prop, true)!.set(key, value),
  });
}

export {};
