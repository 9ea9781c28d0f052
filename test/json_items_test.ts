/**
 * lib/json_items.ts: the elements of a JSON array reply parsed one at a time as the text
 * arrives. Whatever the text and however it is cut into pieces, the elements (or the value)
 * are exactly JSON.parse's; for an array of objects the text held at once stays within about
 * one element and one piece, whatever the array's length.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type BodyPieces,
  JsonItems,
  type JsonItemsEnd,
  readJsonItems,
  readPicked,
} from "../lib/json_items.ts";

/** A reply body of these pieces (text: UTF-8), then `error` when given, as lib/wire.ts reads it. */
function pieces(parts: (Uint8Array | string)[], error?: Error): BodyPieces {
  const queue = parts.map((p) => typeof p === "string" ? new TextEncoder().encode(p) : p);
  return {
    read() {
      const next = queue.shift();
      if (next) return Promise.resolve(next);
      return error ? Promise.reject(error) : Promise.resolve(null);
    },
    cancel: () => Promise.resolve(),
  };
}

/** Feed `text` in pieces of `size` characters; the elements, the end, the most text held. */
function feed(text: string, size: number, parse?: (t: string) => unknown, member?: string) {
  const got: unknown[] = [];
  let held = 0;
  const items = new JsonItems((x) => got.push(x), parse, member);
  for (let i = 0; i < text.length; i += size) {
    items.push(text.slice(i, i + size));
    held = Math.max(held, items.buffered);
  }
  const end: JsonItemsEnd = items.end();
  return { got, end, held };
}

/** LINSTOR-like objects: the same first key at the top and in nested arrays of objects. */
function objects(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `rsc-${i}`,
    props: { "Aux/one/VM_ID": String(i), "odd": 'quote " brace }, {"name": in a string' },
    // nested objects starting with the same key: candidates that are not element ends
    children: [{ name: "a", v: [1, { name: "b" }] }, { name: "c" }],
    volumes: [{ volume_number: 0, allocated_size_kib: 1000 + i }, { volume_number: 1 }],
    text: i % 7 === 0 ? "é ü 漢字 🙂 \\ \n" : "",
  }));
}

describe("JSON array elements one at a time", () => {
  it("gives exactly JSON.parse's elements, whatever the pieces", () => {
    const arr = objects(200);
    const text = JSON.stringify(arr);
    for (const size of [1, 7, 64, 1000, 65536, text.length]) {
      const r = feed(text, size);
      assert.deepEqual(r.end, { array: true }, `pieces of ${size}`);
      assert.deepEqual(r.got, arr, `pieces of ${size}`);
    }
  });

  it("elements that start with another key, or are no objects, are still all given", () => {
    const arr: unknown[] = [{ name: "x", a: 1 }, { other: 1 }, { name: "y" }, 5, "s", [], null, {
      name: "z",
    }];
    for (const size of [1, 3, 100]) assert.deepEqual(feed(JSON.stringify(arr), size).got, arr);
    // pretty-printed, or an array of numbers: no candidates, parsed at the end, same elements
    assert.deepEqual(feed(JSON.stringify(objects(20), null, 2), 50).got, objects(20));
    assert.deepEqual(feed("[1, 2, 3]", 2).got, [1, 2, 3]);
    assert.deepEqual(feed("  [ ]  ", 1).got, []);
    assert.deepEqual(feed("[]", 1).end, { array: true });
  });

  it("a value that is not an array is given whole at the end; invalid JSON throws", () => {
    const rc = { ret_code: -4611686018427387000, message: "x" };
    const r = feed(JSON.stringify(rc), 5);
    assert.deepEqual([r.got, r.end], [[], { array: false, value: rc }]);
    assert.deepEqual(feed(" 42 ", 1).end, { array: false, value: 42 });
    for (const bad of ['[{"name":1},{"name":', '[{"name":1}', "{", "", '[{"name":1},]']) {
      assert.throws(() => feed(bad, 3), SyntaxError, bad);
    }
  });

  it("holds about one element and one piece, not the reply", () => {
    const arr = objects(5000);
    const text = JSON.stringify(arr);
    const one = Math.max(...arr.map((x) => JSON.stringify(x).length));
    const r = feed(text, 16384);
    assert.equal(r.got.length, 5000);
    assert.ok(text.length > 1_000_000, `${text.length}`);
    assert.ok(r.held <= 16384 + 2 * one, `held ${r.held} of ${text.length}`);
  });

  it("parses the elements of a piece together, not one at a time", () => {
    // a listing like LINSTOR's: no nested object starts with the elements' first key
    const arr = Array.from({ length: 5000 }, (_, i) => ({
      name: `rsc-${i}`,
      props: { "Aux/one/VM_ID": String(i) },
      uuid: crypto.randomUUID(),
    }));
    const text = JSON.stringify(arr);
    let calls = 0;
    const counted = (t: string) => (calls++, JSON.parse(t));
    const r = feed(text, 16384, counted);
    assert.deepEqual(r.got, arr);
    const pieces = Math.ceil(text.length / 16384);
    assert.ok(
      calls <= pieces + 1,
      `${calls} parses for ${pieces} pieces of ${arr.length} elements`,
    );
    // where the last candidate of a piece is a nested object's end, one by one: same elements
    calls = 0;
    const nested = objects(2000);
    assert.deepEqual(feed(JSON.stringify(nested), 16384, counted).got, nested);
  });

  it("an array member of an object (StorPool's envelope): its elements, the other members", () => {
    const arr = objects(500);
    const env = { generation: 12, data: arr, after: { data: [1] } };
    for (const size of [1, 9, 4096]) {
      const r = feed(JSON.stringify(env), size, undefined, "data");
      assert.deepEqual(r.got, arr, `pieces of ${size}`);
      assert.deepEqual(r.end, { array: true, rest: { generation: 12, after: { data: [1] } } });
      if (size === 4096) assert.ok(r.held < 4096 + 4000, `held ${r.held}`);
    }
    // an error envelope, a member that is no array, one nested only, pretty-printed: as is
    const err = { error: { name: "objectDoesNotExist", descr: "x", transient: false } };
    assert.deepEqual(feed(JSON.stringify(err), 5, undefined, "data").end, {
      array: false,
      value: err,
    });
    const odd = { generation: 1, data: { ok: true } };
    assert.deepEqual(feed(JSON.stringify(odd), 3, undefined, "data").end, {
      array: false,
      value: odd,
    });
    const nested = { x: { "data": [1, 2] }, y: 1 };
    assert.deepEqual(feed(JSON.stringify(nested), 4, undefined, "data").end, {
      array: false,
      value: nested,
    });
    const pretty = feed(JSON.stringify(env, null, 1), 100, undefined, "data");
    assert.deepEqual([pretty.got, pretty.end], [arr, {
      array: true,
      rest: { generation: 12, after: { data: [1] } },
    }]);
    assert.throws(() =>
      feed('{"generation":1,"data":[{"name":1},{"name":2}', 7, undefined, "data")
    );
  });

  it("parses with the given function (a lossless parser sees every element)", () => {
    const seen: string[] = [];
    const text = JSON.stringify(objects(10));
    const r = feed(text, 100, (t) => (seen.push(t), JSON.parse(t)));
    assert.deepEqual(r.got, objects(10));
    assert.ok(seen.every((t) => t.length < 2000), "element by element");
  });

  it("reads a reply body: multi-byte characters cut between reads, bytes counted", async () => {
    const arr = objects(300);
    const bytes = new TextEncoder().encode(JSON.stringify(arr));
    // pieces of 5 bytes: characters of 2, 3 and 4 bytes are cut
    const cuts: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 5) cuts.push(bytes.slice(i, i + 5));
    const stats = { bytes: 0 };
    const got: unknown[] = [];
    const end = await readJsonItems(pieces(cuts), stats, new JsonItems((x) => got.push(x)));
    assert.deepEqual(end, { array: true });
    assert.deepEqual(got, arr);
    assert.equal(stats.bytes, bytes.length);
  });

  it("reads a MB-sized piece (a gunzipped read) a step at a time: little text held", async () => {
    const arr = objects(6000);
    const bytes = new TextEncoder().encode(JSON.stringify(arr));
    assert.ok(bytes.length > 500_000);
    let held = 0;
    let longest = 0;
    const got: unknown[] = [];
    const spied = () => {
      const items = new JsonItems((x) => got.push(x));
      const push = items.push.bind(items);
      items.push = (text: string) => {
        longest = Math.max(longest, text.length);
        push(text);
        held = Math.max(held, items.buffered);
      };
      return items;
    };
    // one piece of the whole body, then the same cut in two uneven pieces
    for (const parts of [[bytes], [bytes.subarray(0, 123_457), bytes.subarray(123_457)]]) {
      got.length = 0;
      const end = await readJsonItems(pieces(parts), { bytes: 0 }, spied());
      assert.deepEqual([end, got.length], [{ array: true }, arr.length]);
    }
    assert.deepEqual(got, arr);
    assert.ok(longest <= 16384, `text decoded ${longest} characters at once`);
    assert.ok(held < 20_000, `held ${held} characters`);
  });

  it("readPicked: what pick keeps; its failure thrown as is, the reply's returned", async () => {
    const arr = [{ name: "a", n: 1 }, { ret_code: 5 }, { name: "b", n: 2 }, { name: "c", n: 3 }];
    const text = JSON.stringify(arr);
    const rcs: unknown[] = [];
    const r = await readPicked(pieces([text]), { bytes: 0 }, (x) => {
      const o = x as { name: string; n: number };
      return o.n % 2 ? o.name : undefined;
    }, { other: (x) => "ret_code" in (x as object) && rcs.push(x) > 0 });
    assert.deepEqual(r, { ok: true, end: { array: true }, kept: ["a", "c"] });
    assert.deepEqual(rcs, [{ ret_code: 5 }]);
    // the caller's own failure is not a reply failure: thrown, the very error
    const mine = new Error("pick broke");
    await assert.rejects(
      readPicked(pieces([text]), { bytes: 0 }, () => {
        throw mine;
      }),
      (e) => e === mine,
    );
    // a reply cut off: returned for the caller's retry rule; one that is no JSON: a SyntaxError
    const cut = pieces([text.slice(0, 20)], new Error("connection lost"));
    const lost = await readPicked(cut, { bytes: 0 }, (x) => x);
    assert.equal(lost.ok, false);
    assert.match(String((lost as { error: unknown }).error), /connection lost/);
    const bad = await readPicked(pieces(["[{]"]), { bytes: 0 }, (x) => x);
    assert.ok(!bad.ok && bad.error instanceof SyntaxError);
  });
});
