import { assertThrows, checkOp, gpuTest, setup } from "../helpers.ts";
import { ntXentLoss } from "../../lib/losses/ntxent.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { refNtXent } from "./reference.ts";

await setup();

const D = 13;

for (const B of [1, 7, 25]) {
  for (const T of [0.2, 0.5]) {
    Deno.test(`ntXentLoss: 2 x ${B} rows, D=${D}, T=${T}`, gpuTest, async () => {
      await checkOp(`ntXent B=${B} T=${T}`, {
        inputs: [{ shape: [2 * B, D] }],
        gpu: (z) => ntXentLoss(z, { temperature: T }),
        ref: (z) => Float64Array.of(refNtXent(z, 2 * B, D, T)),
        fwd: { atol: 2e-5, rtol: 2e-5 },
        bwd: { atol: 2e-4, rtol: 2e-3 },
        seed: 70 + B,
      });
    });
  }
}

Deno.test("ntXentLoss: odd row counts and bad temperatures are errors", gpuTest, () => {
  const z = tensor(new Float32Array(3 * D), [3, D]);
  assertThrows(() => ntXentLoss(z), "ntXentLoss: want z [2B, D]");
  const z2 = tensor(new Float32Array(4 * D), [4, D]);
  assertThrows(() => ntXentLoss(z2, { temperature: 0 }), "temperature");
});
