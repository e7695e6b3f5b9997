/**
 * Patch extraction (shaders/patches.wgsl): the ViT patch embedding written as a matmul.
 * `patchify(x, p)` turns images [N, C, H, W] into patches [N, (H/p)(W/p), C*p*p] whose
 * feature order (c, py, px) matches a flattened Conv2d weight [D, C, p, p], so
 * `patchify(x, p) @ W.reshape(D, C*p*p)^T + b` equals timm's PatchEmbed
 * (Conv2d(C, D, p, stride p), flattened over the grid and transposed).
 */
import code from "../../../shaders/patches.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, LOOP_BUDGET, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";

/**
 * Non-overlapping p x p patches of x [N, C, H, W] as rows [N, (H/p)*(W/p), C*p*p]:
 * tokens in row-major grid order, features in (c, py, px) order. H and W must be
 * divisible by p. Backward: the inverse rearrangement.
 *
 * @example
 * ```ts
 * const tokens = patchify(images, 4).matmul(w.reshape(192, 1 * 4 * 4), { transB: true });
 * ```
 */
export function patchify(x: Tensor, p: number): Tensor {
  const op = "patchify";
  checkDevice(op, x);
  checkDType(op, x, "f32");
  if (x.ndim !== 4) throw new Error(`${op}: input must be [N, C, H, W], got [${x.shape}]`);
  if (!Number.isInteger(p) || p < 1) {
    throw new Error(`${op}: patch size must be a positive integer, got ${p}`);
  }
  const [N, C, H, W] = x.shape;
  if (H % p !== 0 || W % p !== 0) {
    throw new Error(
      `${op}: height ${H} and width ${W} of input [${x.shape}] must be divisible by the patch size ${p}`,
    );
  }
  const T = (H / p) * (W / p);
  const out = Tensor.empty([N, T, C * p * p], "f32", op);
  // a CPU adapter copies a row of p pixels per invocation (fewer integer divisions).
  // That loop stays within LOOP_BUDGET (llvmpipe's silent cap on an invocation's loop
  // iterations): p * p <= x.size, so p <= 5792 under llvmpipe's 128 MiB binding limit
  // and p < 65 536 under any u32-indexed one; the guard only makes that explicit.
  const chunk = runtime().info.kernels === "cpu" && p <= LOOP_BUDGET ? p : 1;
  const n = x.size / chunk;
  const prm = () => new Params().u32(n, C, H, W, p, chunk, 0, 0);
  launch("patches", code, "patchify", {
    buffers: [x, out],
    workgroups: grid(n),
    params: prm(),
  });
  return record(out, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    launch("patches", code, "unpatchify", {
      buffers: [g, dx],
      workgroups: grid(n),
      params: prm(),
    });
    return [dx];
  });
}
