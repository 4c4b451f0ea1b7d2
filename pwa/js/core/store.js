// IndexedDB, through idb. One small database for the phone (who is signed in) and one per user for
// everything that user captured: work package, drafts with their photos, outbox. Another user signing in
// on the same phone opens another database, so never sees, sends or exports the first one's work, which
// waits intact until its owner signs in again (DESIGN: "Everything stored on the phone belongs to the
// user who made it").
import { openDB } from "../../vendor/idb.js";

const DEVICE = "fieldvisit-device";
const LEGACY = "fieldvisit"; // before per-user databases: one database for whoever signed in

let device;
function deviceDb() {
  device ??= openDB(DEVICE, 1, {
    upgrade(db) {
      db.createObjectStore("kv");
    },
  });
  return device;
}

export const deviceGet = async (key) => (await deviceDb()).get("kv", key);
export const devicePut = async (key, value) => (await deviceDb()).put("kv", value, key);
export const deviceDel = async (key) => (await deviceDb()).delete("kv", key);

function openUser(userId) {
  return openDB(`fieldvisit-user-${userId}`, 1, {
    upgrade(db) {
      db.createObjectStore("kv");
      db.createObjectStore("visits", { keyPath: "visit.id" });
      db.createObjectStore("drafts");
      db.createObjectStore("outbox", { keyPath: "id" }).createIndex("visitId", "visitId");
    },
  });
}

let owner = null; // the user whose database every call below reads and writes
let opened = null;

// Every read and write below goes to this user's database until another user is bound.
export async function bind(userId) {
  if (owner === userId && opened) return;
  if (opened) (await opened).close();
  owner = userId;
  opened = openUser(userId);
  await adoptLegacy(userId);
}

export function unbind() {
  if (opened) opened.then((db) => db.close());
  owner = null;
  opened = null;
}

export const boundTo = () => owner;

async function user() {
  if (!opened) throw new Error("no user is signed in on this phone");
  return opened;
}

export const get = async (store, key) => (await user()).get(store, key);
export const all = async (store) => (await user()).getAll(store);
export const keys = async (store) => (await user()).getAllKeys(store);
export const put = async (store, value, key) => (await user()).put(store, value, key);
export const del = async (store, key) => (await user()).delete(store, key);
export const byVisit = async (visitId) => (await user()).getAllFromIndex("outbox", "visitId", visitId);

export async function replaceAll(store, values) {
  const tx = (await user()).transaction(store, "readwrite");
  await tx.store.clear();
  await Promise.all(values.map((value) => tx.store.put(value)));
  await tx.done;
}

// The app before per-user databases kept one database for whoever was signed in. Its records go, once,
// to the user its session named, or else to the first user who signs in (the old app could not tell
// owners apart); nothing in it is dropped.
async function adoptLegacy(userId) {
  if (!indexedDB.databases || !(await indexedDB.databases()).some((d) => d.name === LEGACY)) return;
  const legacy = await openDB(LEGACY, 1);
  const stores = ["kv", "visits", "drafts", "outbox"].filter((name) => legacy.objectStoreNames.contains(name));
  const session = stores.includes("kv") ? await legacy.get("kv", "session") : null;
  const heir = session?.user?.id || userId;
  if (heir !== userId) {
    legacy.close();
    return;
  }
  const target = await opened;
  for (const store of stores.filter((name) => name !== "kv")) {
    const keyed = store === "drafts";
    const tx = legacy.transaction(store);
    const values = await tx.store.getAll();
    const ids = keyed ? await tx.store.getAllKeys() : [];
    for (const [index, value] of values.entries()) await target.put(store, value, keyed ? ids[index] : undefined);
  }
  legacy.close();
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(LEGACY);
    request.onsuccess = request.onerror = request.onblocked = resolve;
  });
}
