/** Shared helpers for the data tests: temporary folders and PNG/JPEG files made here. */
import { PNG } from "npm:pngjs@7.0.0";
import jpeg from "npm:jpeg-js@0.4.4";

/** A fresh temporary folder; `await using` removes it. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "mugs-data-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** RGBA pixels `f(x, y)` of a `width x height` image, row-major. */
export function rgba(
  width: number,
  height: number,
  f: (x: number, y: number) => [number, number, number, number],
): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set(f(x, y), 4 * (y * width + x));
  }
  return out;
}

/** Encode RGBA pixels as an 8-bit RGBA PNG (pngjs). */
export function encodePng(data: Uint8Array, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  png.data.set(data);
  return new Uint8Array(PNG.sync.write(png, { colorType: 6 }));
}

/** Encode RGBA pixels as a JPEG (jpeg-js, quality 0..100). */
export function encodeJpeg(
  data: Uint8Array,
  width: number,
  height: number,
  quality = 95,
): Uint8Array {
  return new Uint8Array(jpeg.encode({ width, height, data }, quality).data);
}

/** Decode a JPEG with jpeg-js directly (the reference for the decode path). */
export function decodeJpegRgba(bytes: Uint8Array): Uint8Array {
  return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true }).data;
}

/** Write bytes to `dir/name`, making parent folders. */
export async function put(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, bytes);
  return path;
}
