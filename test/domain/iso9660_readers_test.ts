/**
 * Images of lib/domain/iso9660.ts read back by independent programs, as guests and
 * operators would: isoinfo (Rock Ridge and Joliet), xorriso (libisofs), bsdtar (libarchive),
 * 7z (Joliet, as Windows reads it), blkid (how one-context finds the `CONTEXT` disc), and
 * compared with what genisoimage makes of the same directory. No mount, no root needed.
 * A check whose program is missing is skipped, its name saying which Debian package brings
 * it (.ci/run installs them all).
 */
import assert from "node:assert/strict";
import { isoEntriesFromDir, writeIso } from "../../lib/domain/iso9660.ts";
import { sha256Hex, xorshiftBytes } from "../support/bytes.ts";
import { toolTest } from "../support/tools.ts";

const T = new Date("2026-01-02T03:04:05Z");

/** Run a program (60 s deadline); fails the test on a non-zero exit. */
async function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, `${cmd} ${args.join(" ")} exited ${out.code}: ${stderr.trim()}`);
  return { stdout, stderr };
}

const LONG = "a-long-name-that-windows-sees-cut-at-sixty-four-characters-by-joliet.conf";
const UNICODE = "ünïcödé-名前.txt";
const BLOB = xorshiftBytes(3 * 1024 * 1024 + 77, 11);

/**
 * A context directory: context.sh, scripts with modes, a long name, a Unicode name, nested
 * directories (one 0750), an empty file, a 3 MiB file. With `deep`, also 10 nested levels
 * (genisoimage relocates those into rr_moved, so the comparison leaves them out).
 */
async function makeSource(dir: string, deep: boolean): Promise<void> {
  const put = async (path: string, data: Uint8Array | string, mode = 0o644) => {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, typeof data === "string" ? new TextEncoder().encode(data) : data);
    await Deno.chmod(full, mode);
  };
  await put("context.sh", "# Context variables\nETH0_IP='10.0.0.7'\nTOKEN='YES'\n");
  await put("init.sh", "#!/bin/sh\necho init\n", 0o755);
  await put("Windows Script.ps1", "Write-Host hi\r\n");
  await put(LONG, "long\n");
  await put(UNICODE, "unicode\n");
  await put("files/etc/one/config.yaml", "a: 1\n");
  await put("files/bin/run", "#!/bin/sh\n", 0o700);
  await put("files/empty", "");
  await put("files/blob.bin", BLOB);
  await Deno.mkdir(`${dir}/files/private`);
  await Deno.chmod(`${dir}/files/private`, 0o750);
  await put("files/private/key", "secret\n", 0o600);
  if (deep) {
    await put(`${Array.from({ length: 10 }, (_, i) => `d${i}`).join("/")}/deep.txt`, "deep\n");
  }
}

interface Item {
  dir: boolean;
  size: number;
  perm: number;
  sha: string;
}

/** The tree under `dir` as path → item (paths relative, `/`-separated). */
async function model(dir: string, rename: (name: string) => string = (n) => n) {
  const out = new Map<string, Item>();
  const walk = async (abs: string, rel: string) => {
    for await (const e of Deno.readDir(abs)) {
      const path = rel ? `${rel}/${rename(e.name)}` : rename(e.name);
      const st = await Deno.lstat(`${abs}/${e.name}`);
      const data = st.isFile ? await Deno.readFile(`${abs}/${e.name}`) : new Uint8Array();
      out.set(path, {
        dir: st.isDirectory,
        size: st.isFile ? st.size : 0,
        perm: (st.mode ?? 0) & 0o7777,
        sha: st.isFile ? sha256Hex(data) : "",
      });
      if (st.isDirectory) await walk(`${abs}/${e.name}`, path);
    }
  };
  await walk(dir, "");
  return out;
}

/** The Joliet name of a source name here: the first 64 characters (genisoimage's rule). */
const joliet = (name: string) => name.slice(0, 64);

/** Without permissions (for readers that do not restore them). */
function noPerm(m: Map<string, Item>) {
  return new Map([...m].map(([k, v]) => [k, { ...v, perm: 0 }]));
}

/** A temp dir with the source tree, our image and (when asked) genisoimage's. */
async function withImage(
  opts: { deep: boolean },
  fn: (d: { dir: string; src: string; iso: string }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oneblk-iso-readers-" });
  try {
    const src = `${dir}/src`;
    await makeSource(src, opts.deep);
    const iso = `${dir}/ours.iso`;
    await writeIso(iso, await isoEntriesFromDir(src), { time: T });
    await fn({ dir, src, iso });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Listed {
  mode: string;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
}

/** Parse `isoinfo -l` output into path → entry (the "." and ".." lines left out). */
function parseIsoinfo(out: string): Map<string, Listed> {
  const map = new Map<string, Listed>();
  let cwd = "";
  for (const line of out.split("\n")) {
    const d = /^Directory listing of (.*)$/.exec(line);
    if (d) {
      cwd = d[1].replace(/^\/|\/$/g, "");
      continue;
    }
    const m =
      /^([-dlcbps][-rwxsStT]{9})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\w{3}\s+\d+\s+\d{4}\s+\[\s*\d+\s+\d+\]\s\s(.*) $/
        .exec(line);
    if (!m || m[6] === "." || m[6] === "..") continue;
    map.set(cwd ? `${cwd}/${m[6]}` : m[6], {
      mode: m[1],
      nlink: +m[2],
      uid: +m[3],
      gid: +m[4],
      size: +m[5],
    });
  }
  return map;
}

function permString(p: number): string {
  const r = (b: number, c: string) => (p & b ? c : "-");
  return r(0o400, "r") + r(0o200, "w") + r(0o100, "x") + r(0o40, "r") + r(0o20, "w") +
    r(0o10, "x") + r(0o4, "r") + r(0o2, "w") + r(0o1, "x");
}

toolTest(["isoinfo"], "isoinfo: label, Joliet and Rock Ridge found", async () => {
  await withImage({ deep: true }, async ({ iso }) => {
    const { stdout } = await run("isoinfo", ["-d", "-i", iso]);
    assert.match(stdout, /^Volume id: CONTEXT$/m);
    assert.match(stdout, /^Joliet with UCS level 3 found$/m);
    assert.match(stdout, /^Rock Ridge signatures version 1 found$/m);
  });
});

toolTest(["isoinfo"], "isoinfo -R: names, modes, sizes and data", async () => {
  await withImage({ deep: true }, async ({ src, iso }) => {
    const want = await model(src);
    const got = parseIsoinfo((await run("isoinfo", ["-R", "-l", "-i", iso])).stdout);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [path, w] of want) {
      const g = got.get(path)!;
      assert.equal(g.mode, (w.dir ? "d" : "-") + permString(w.perm), path);
      if (!w.dir) assert.equal(g.size, w.size, path);
    }
    for (const path of [UNICODE, "files/blob.bin", "files/private/key", LONG]) {
      const out = await new Deno.Command("isoinfo", {
        args: ["-R", "-i", iso, "-x", `/${path}`],
        stdout: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      assert.equal(sha256Hex(out.stdout), want.get(path)!.sha, path);
    }
  });
});

toolTest(["isoinfo"], "isoinfo -J: Joliet names cut to 64, sizes", async () => {
  await withImage({ deep: true }, async ({ src, iso }) => {
    const want = await model(src, joliet);
    const got = parseIsoinfo((await run("isoinfo", ["-J", "-l", "-i", iso])).stdout);
    // isoinfo prints Joliet names in a Latin charset: compare the ASCII ones by name.
    assert.equal(got.size, want.size);
    for (const [path, w] of want) {
      if (/[^\x20-\x7e]/.test(path)) continue;
      assert(got.has(path), `isoinfo -J lacks ${path}`);
      if (!w.dir) assert.equal(got.get(path)!.size, w.size, path);
    }
    assert(got.has(joliet(LONG)) && !got.has(LONG));
  });
});

toolTest(
  ["xorriso"],
  "xorriso (libisofs): loads cleanly, extracts the same tree",
  async () => {
    await withImage({ deep: true }, async ({ dir, src, iso }) => {
      const { stderr } = await run("xorriso", [
        "-abort_on",
        "FAILURE",
        "-indev",
        iso,
        "-pvd_info",
        "-osirrox",
        "on",
        "-extract",
        "/",
        `${dir}/x`,
      ]);
      assert.match(stderr, /Volume id\s*:\s*'CONTEXT'/);
      assert.doesNotMatch(stderr, /WARNING|SORRY|FAILURE|MISHAP/);
      assert.deepEqual(await model(`${dir}/x`), await model(src));
    });
  },
);

toolTest(["bsdtar"], "bsdtar (libarchive): extracts the same tree", async () => {
  await withImage({ deep: true }, async ({ dir, src, iso }) => {
    await Deno.mkdir(`${dir}/b`);
    await run("bsdtar", ["-x", "-p", "-f", iso, "-C", `${dir}/b`]);
    assert.deepEqual(await model(`${dir}/b`), await model(src));
  });
});

toolTest(["7z"], "7z: reads the Joliet tree, as Windows does", async () => {
  await withImage({ deep: true }, async ({ dir, src, iso }) => {
    const { stdout } = await run("7z", ["x", "-y", `-o${dir}/z`, iso]);
    assert.match(stdout, /Everything is Ok/);
    assert.deepEqual(noPerm(await model(`${dir}/z`)), noPerm(await model(src, joliet)));
  });
});

toolTest(["blkid"], "blkid: an iso9660 filesystem labelled CONTEXT", async () => {
  await withImage({ deep: false }, async ({ iso }) => {
    const { stdout } = await run("blkid", ["-p", "-o", "export", iso]);
    assert.match(stdout, /^TYPE=iso9660$/m);
    assert.match(stdout, /^LABEL=CONTEXT$/m);
  });
});

toolTest(
  ["genisoimage", "isoinfo"],
  "same listing as genisoimage -V CONTEXT -J -R (Rock Ridge, Joliet, primary)",
  async () => {
    await withImage({ deep: false }, async ({ dir, src, iso }) => {
      const theirs = `${dir}/genisoimage.iso`;
      await run("genisoimage", [
        "-quiet",
        "-input-charset",
        "utf-8",
        "-o",
        theirs,
        "-V",
        "CONTEXT",
        "-J",
        "-R",
        src,
      ]);
      const entries = (await model(src)).size;
      for (const view of [["-R"], ["-J"], []]) {
        const ours = parseIsoinfo((await run("isoinfo", [...view, "-l", "-i", iso])).stdout);
        const ref = parseIsoinfo((await run("isoinfo", [...view, "-l", "-i", theirs])).stdout);
        assert.equal(ref.size, entries, `isoinfo ${view.join(" ")} -l lists every entry`);
        assert.deepEqual(
          [...ours].sort(),
          [...ref].sort(),
          `isoinfo ${view.join(" ")} -l differs`,
        );
      }
      const label = /^Volume id: .*$/m;
      assert.equal(
        label.exec((await run("isoinfo", ["-d", "-i", iso])).stdout)?.[0],
        label.exec((await run("isoinfo", ["-d", "-i", theirs])).stdout)?.[0],
      );
    });
  },
);
