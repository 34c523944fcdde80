// Reads and edits jxc's shared documents with the JavaScript Automerge, to
// prove they are plain Automerge documents (tests/tests/interop_js.rs runs it).
//
//   node roundtrip.mjs read FILE [KEY...]
//     Loads FILE (`jxc-agent doc export`) and prints JSON: the library
//     version, the document's heads, the actors of its changes, and every
//     record (or only KEY...) as {field: {type, value}}, where type is the
//     Automerge datatype (str, int, uint, f64, boolean, null, text, ...).
//     A field with concurrent values also gets "conflicts": [values...].
//
//   node roundtrip.mjs edit IN OUT EDITS_JSON [--actor HEX] [--changes-only]
//     Loads IN as actor HEX (default: a random actor, as Automerge JS makes),
//     applies EDITS_JSON = {"RECORD": {"field": value, ...}, ...} in one
//     change (a record that does not exist is created) and writes OUT: the
//     whole document, or with --changes-only just the new change. Values are
//     stored the way jxc stores them: strings as scalar strings (not text
//     objects), whole numbers as ints, booleans, null; other numbers are
//     refused, since jxc keeps decimals as strings. Prints JSON: the actor,
//     the new heads and how many bytes were written.

import { readFileSync, writeFileSync } from "node:fs";
import * as Automerge from "@automerge/automerge";

function fail(message) {
  process.stderr.write(`roundtrip.mjs: ${message}\n`);
  process.exit(2);
}

// The installed library's version (its package.json; releaseInfo() names
// only git commits).
function library() {
  const manifest = new URL("./node_modules/@automerge/automerge/package.json", import.meta.url);
  try {
    return JSON.parse(readFileSync(manifest, "utf8")).version;
  } catch {
    return null;
  }
}

// One value as [datatype, JSON value]; a nested object shows its kind and,
// for text, its content, so a test can tell a text object from a string.
function describe(backend, datatype, value) {
  switch (datatype) {
    case "text":
      return { type: "text", value: backend.text(value) };
    case "map":
    case "list":
    case "table":
      return { type: datatype, value: null };
    case "counter":
    case "timestamp":
      return { type: datatype, value: Number(value) };
    case "bytes":
      return { type: datatype, value: Buffer.from(value).toString("hex") };
    default:
      return { type: datatype, value };
  }
}

function readFields(backend, obj) {
  const out = {};
  for (const key of backend.keys(obj)) {
    const [datatype, value] = backend.getWithType(obj, key);
    const field = describe(backend, datatype, value);
    const all = backend.getAll(obj, key);
    if (all.length > 1) {
      field.conflicts = all.map(([t, v]) => describe(backend, t, v).value);
    }
    out[key] = field;
  }
  return out;
}

function read(file, keys) {
  const doc = Automerge.load(new Uint8Array(readFileSync(file)));
  const backend = Automerge.getBackend(doc);
  const actors = new Set(
    Automerge.getAllChanges(doc).map((c) => Automerge.decodeChange(c).actor),
  );
  const root = readFields(backend, "_root");
  const records = {};
  for (const key of keys.length ? keys : Object.keys(root)) {
    const entry = backend.getWithType("_root", key);
    if (entry === null) {
      records[key] = null;
    } else if (entry[0] === "map") {
      records[key] = readFields(backend, entry[1]);
    } else {
      records[key] = describe(backend, entry[0], entry[1]);
    }
  }
  return {
    automerge: library(),
    heads: Automerge.getHeads(doc),
    actors: [...actors].sort(),
    records,
  };
}

function scalar(record, field, value) {
  if (typeof value === "string") return new Automerge.ImmutableString(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      fail(`${record}.${field}: ${value} is not a whole number; jxc keeps decimals as strings`);
    }
    return new Automerge.Int(value);
  }
  if (typeof value === "boolean" || value === null) return value;
  fail(`${record}.${field}: use a string, a whole number, a boolean or null`);
}

function edit(input, output, editsJson, options) {
  let edits;
  try {
    edits = JSON.parse(editsJson);
  } catch (e) {
    fail(`EDITS_JSON is not JSON: ${e.message}`);
  }
  const bytes = new Uint8Array(readFileSync(input));
  const doc = options.actor
    ? Automerge.load(bytes, { actor: options.actor })
    : Automerge.load(bytes);
  const before = Automerge.getHeads(doc);
  const edited = Automerge.change(doc, "edited with Automerge JS", (d) => {
    for (const [key, fields] of Object.entries(edits)) {
      if (d[key] === undefined) d[key] = {};
      for (const [field, value] of Object.entries(fields)) {
        d[key][field] = scalar(key, field, value);
      }
    }
  });
  const out = options.changesOnly
    ? Automerge.saveSince(edited, before)
    : Automerge.save(edited);
  writeFileSync(output, out);
  return {
    automerge: library(),
    actor: Automerge.getActorId(edited),
    heads: Automerge.getHeads(edited),
    bytes: out.length,
  };
}

const [command, ...args] = process.argv.slice(2);
let result;
if (command === "read" && args.length >= 1) {
  result = read(args[0], args.slice(1));
} else if (command === "edit" && args.length >= 3) {
  const [input, output, editsJson, ...rest] = args;
  const options = { actor: null, changesOnly: false };
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--actor" && i + 1 < rest.length) {
      options.actor = rest[++i];
      if (!/^([0-9a-f]{2})+$/.test(options.actor)) fail(`--actor ${options.actor}: use hex`);
    } else if (rest[i] === "--changes-only") {
      options.changesOnly = true;
    } else {
      fail(`unknown option ${rest[i]}`);
    }
  }
  result = edit(input, output, editsJson, options);
} else {
  fail(
    "usage: roundtrip.mjs read FILE [KEY...] | " +
      "edit IN OUT EDITS_JSON [--actor HEX] [--changes-only]",
  );
}
process.stdout.write(JSON.stringify(result) + "\n");
