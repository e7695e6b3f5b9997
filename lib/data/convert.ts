/**
 * uint8 images to f32 tensors on the GPU (shaders/convert.wgsl): the bytes are uploaded
 * packed 4 per u32 word (a quarter of the f32 upload) and widened there to value / 255,
 * exactly `Math.fround(v / 255)` for every byte v.
 */
import code from "../../shaders/convert.wgsl" with { type: "text" };
import { runtime } from "../gpu/device.ts";
import type { Runtime } from "../gpu/runtime.ts";
import { numel, Tensor } from "../tensor/tensor.ts";
import { grid, launch, Params } from "../tensor/launch.ts";

const luts = new WeakMap<Runtime, GPUBuffer>();

/** The 256-entry table v -> fround(v / 255), one per runtime. */
function lut(rt: Runtime): GPUBuffer {
  let b = luts.get(rt);
  if (!b) {
    b = rt.device.createBuffer({
      size: 256 * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      label: "u8-to-f32-lut",
    });
    rt.upload(b, Float32Array.from({ length: 256 }, (_, v) => v / 255));
    luts.set(rt, b);
  }
  return b;
}

/**
 * Upload uint8 values and convert them on the GPU to an f32 tensor of `shape` holding
 * value / 255 (in [0, 1]).
 *
 * @example
 * ```ts
 * const x = uint8ToTensor(Uint8Array.of(0, 51, 255), [3]); // [0, 0.2, 1]
 * ```
 */
export function uint8ToTensor(bytes: Uint8Array, shape: number[]): Tensor {
  const n = numel(shape);
  if (bytes.length !== n) {
    throw new Error(
      `uint8ToTensor: ${bytes.length} bytes do not fill shape [${shape}] (${n} elements)`,
    );
  }
  const out = Tensor.empty(shape, "f32", "uint8ToTensor");
  const rt = runtime();
  const words = Math.ceil(n / 4);
  const packed = Tensor.empty([words], "i32", "uint8ToTensor");
  try {
    const aligned = bytes.byteOffset % 4 === 0 && bytes.length === words * 4;
    let src = bytes;
    if (!aligned) {
      src = new Uint8Array(words * 4);
      src.set(bytes);
    }
    rt.upload(packed.buffer, src);
    launch("convert", code, "u8_to_f32", {
      buffers: [packed, lut(rt), out],
      workgroups: grid(words),
      params: new Params().u32(n, words, 0, 0),
    });
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    packed.dispose();
  }
  return out;
}
