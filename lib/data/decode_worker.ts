/**
 * The decode worker behind `DecodePool`: reads an image file, decodes it and converts it
 * (`decodeImage`), and posts the CHW bytes back (transferred, not copied).
 *
 * Protocol: in `{ id, paths, opts }` (a chunk of files, to keep per-message overhead small
 * for small images); out `{ id, images }` in the same order, or `{ id, error }` for the
 * first file that failed (the message names the file).
 */
import { type DecodedImage, decodeImage, type DecodeOptions } from "./image_decode.ts";

/**
 * A request to the worker.
 *
 * @example
 * ```ts
 * const req: DecodeRequest = { id: 0, paths: ["a.png"], opts: { channels: 1 } };
 * ```
 */
export interface DecodeRequest {
  id: number;
  paths: string[];
  opts: DecodeOptions;
}

/**
 * The worker's answer: an image or an error message.
 *
 * @example
 * ```ts
 * const reply: DecodeReply = { id: 0, error: "image a.png does not exist" };
 * ```
 */
export type DecodeReply = { id: number; images: DecodedImage[] } | { id: number; error: string };

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<DecodeRequest>) => void) | null;
  postMessage: (msg: DecodeReply, transfer?: Transferable[]) => void;
};

async function read(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new Error(
      e instanceof Deno.errors.NotFound
        ? `image ${path} does not exist`
        : `image ${path}: could not read it (${(e as Error).message})`,
    );
  }
}

async function handle({ id, paths, opts }: DecodeRequest): Promise<void> {
  try {
    const files = await Promise.all(paths.map(read));
    const images: DecodedImage[] = [];
    const transfer: ArrayBuffer[] = [];
    files.forEach((bytes, k) => {
      const image = decodeImage(bytes, paths[k], opts);
      const whole = image.data.byteOffset === 0 &&
        image.data.byteLength === image.data.buffer.byteLength;
      const data = whole ? image.data : image.data.slice();
      images.push({ ...image, data });
      transfer.push(data.buffer as ArrayBuffer);
    });
    scope.postMessage({ id, images }, transfer);
  } catch (e) {
    scope.postMessage({ id, error: (e as Error).message ?? String(e) });
  }
}

scope.onmessage = (e) => {
  handle(e.data);
};
