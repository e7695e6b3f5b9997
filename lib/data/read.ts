/**
 * Read the bytes of a file given as a path, a `file:` URL or an `http(s):` URL, so that
 * data shipped beside a module loads both from a checkout and when the module is imported
 * by URL. Errors name the file and what went wrong.
 */

/**
 * A display name for a path or URL (the path of a `file:` URL).
 *
 * @example
 * ```ts
 * sourceName(new URL("file:///data/a.gz")); // "/data/a.gz"
 * ```
 */
export function sourceName(src: string | URL): string {
  if (src instanceof URL) {
    return src.protocol === "file:" ? decodeURIComponent(src.pathname) : src.href;
  }
  return src;
}

/**
 * The bytes of `src`: a local path, a `file:` URL (read with `Deno.readFile`) or an
 * `http(s):` URL (fetched). A missing file is an error naming it.
 *
 * @example
 * ```ts
 * const bytes = await readBytes(new URL("../../data/README.md", import.meta.url));
 * ```
 */
export async function readBytes(src: string | URL): Promise<Uint8Array> {
  const url = src instanceof URL ? src : /^(https?|file):\/\//.test(src) ? new URL(src) : null;
  if (url && (url.protocol === "http:" || url.protocol === "https:")) {
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new Error(`could not fetch ${url.href}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`could not fetch ${url.href}: HTTP ${res.status} ${res.statusText}`);
    }
    return new Uint8Array(await res.arrayBuffer());
  }
  try {
    return await Deno.readFile(url ?? src);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`file ${sourceName(src)} does not exist`);
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new Error(`file ${sourceName(src)} is a directory, expected a file`);
    }
    throw new Error(`could not read ${sourceName(src)}: ${(e as Error).message}`);
  }
}
