/**
 * Atomic file writes: the bytes go to a temporary file in the target's directory, are
 * flushed to disk, and the temporary file is then renamed over the target. A crash or
 * an error at any point leaves either the old target or the complete new one, never a
 * partial file; on error the temporary file is removed.
 */

/**
 * Write `data` to `path` atomically (temporary file in the same directory, fsync, rename).
 * Strings are written as UTF-8. Errors name the path and, where it is the cause, the
 * missing directory.
 *
 * @example
 * ```ts
 * await writeFileAtomic("run/metrics.json", JSON.stringify({ step: 10 }));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  if (typeof path !== "string" || path.length === 0) {
    throw new Error(`writeFileAtomic: path must be a non-empty string, got ${String(path)}`);
  }
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(`${path}: data to write must be a Uint8Array or a string`);
  }
  const { dir, base } = splitPath(path);
  const prefix = dir === "" || /[\\/]$/.test(dir) ? dir : dir + sep(path);
  const tmp = `${prefix}.${base}.${randomTag()}.tmp`;
  let file: Deno.FsFile | undefined;
  let created = false;
  try {
    try {
      file = await Deno.open(tmp, { write: true, createNew: true });
      created = true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `cannot write '${path}': directory '${dir === "" ? "." : dir}' does not exist ` +
            `(create it first)`,
        );
      }
      throw new Error(`cannot write '${path}': cannot create a temporary file: ${message(e)}`);
    }
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.syncData();
    } catch (e) {
      throw new Error(`cannot write '${path}': writing the temporary file failed: ${message(e)}`);
    }
    file.close();
    file = undefined;
    try {
      await Deno.rename(tmp, path);
      created = false;
    } catch (e) {
      throw new Error(
        `cannot write '${path}': renaming the finished temporary file over it failed: ${
          message(e)
        }`,
      );
    }
  } catch (e) {
    try {
      file?.close();
    } catch { /* already closed */ }
    if (created) {
      try {
        await Deno.remove(tmp);
      } catch { /* nothing left to clean up */ }
    }
    throw e;
  }
  await syncDir(dir);
}

/**
 * Write a string to `path` atomically as UTF-8 (same guarantees as `writeFileAtomic`).
 *
 * @example
 * ```ts
 * await writeTextAtomic("run/config.json", JSON.stringify(config, null, 2));
 * ```
 */
export function writeTextAtomic(path: string, text: string): Promise<void> {
  if (typeof text !== "string") {
    return Promise.reject(new Error(`${path}: writeTextAtomic needs a string`));
  }
  return writeFileAtomic(path, text);
}

function sep(path: string): string {
  return Deno.build.os === "windows" && path.lastIndexOf("\\") > path.lastIndexOf("/") ? "\\" : "/";
}

function splitPath(path: string): { dir: string; base: string } {
  const i = Deno.build.os === "windows"
    ? Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"))
    : path.lastIndexOf("/");
  if (i < 0) return { dir: "", base: path };
  if (i === path.length - 1) {
    throw new Error(`cannot write '${path}': the path names a directory, not a file`);
  }
  return { dir: i === 0 ? path.slice(0, 1) : path.slice(0, i), base: path.slice(i + 1) };
}

function randomTag(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Best effort: flush the directory entry so the rename itself survives a power loss. */
async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir === "" ? "." : dir, { read: true });
    await d.syncData();
  } catch {
    /* some file systems refuse fsync on directories; the data is already safe */
  } finally {
    try {
      d?.close();
    } catch { /* ignore */ }
  }
}
