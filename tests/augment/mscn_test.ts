// MSCN masks: grid and focal masks, channel-independent masks, the high-pass filter and noise
// filling against the float64 reference on 1 and 3 channels and odd sizes; the sampled masks'
// statistics (masked cell fraction, kept focal area, rates); bad inputs.
// Tolerance: atol 2e-5 + rtol 2e-5 (float32 blur and hashed noise against float64).
import { assert, assertClose, assertEquals, assertThrows, gpuTest, setup } from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { type MaskParams, mscnMask, noMask, sampleMscn } from "../../lib/augment/mscn.ts";
import * as ref from "../../lib/augment/reference.ts";

await setup();

const TOL = { atol: 2e-5, rtol: 2e-5 };

Deno.test("MSCN masks match the reference", gpuTest, async () => {
  for (const [c, size] of [[1, 28], [3, 13], [3, 32]]) {
    const g = new Generator(size + c);
    const n = 24;
    const data = new Float32Array(n * c * size * size).map(() => g.range(-2, 2));
    const x = tensor(data, [n, c, size, size]);
    const masks: MaskParams[] = Array.from({ length: n }, (_, i) =>
      sampleMscn(
        g,
        {
          prob: 0.9,
          gridProb: i % 2 ? 1 : 0,
          highPassProb: i % 3 === 0 ? 1 : 0.5,
          noiseProb: 0.5,
          channelProb: 0.5,
          highPassSigma: i % 4 === 0 ? 2.5 : "auto",
        },
        c,
        size,
      ));
    masks[0] = noMask(); // untouched view next to masked ones
    const out = mscnMask(x, masks);
    const got = await out.toArray();
    const per = c * size * size;
    masks.forEach((m, i) => {
      const want = ref.refMscn(ref.imageAt(data, i, c, size, size), m);
      assertClose(
        got.subarray(i * per, (i + 1) * per),
        want.data,
        TOL,
        `view ${i} (${m.kind}) C=${c}`,
      );
    });
    assert(
      masks.some((m) => m.kind === "grid") && masks.some((m) => m.kind === "focal"),
      "both kinds",
    );
    assert(masks.some((m) => m.highPass) && masks.some((m) => m.noise), "high-pass and noise used");
    out.dispose();
    x.dispose();
  }
});

Deno.test("sampled masks: grid fraction, focal area, rates, channels", () => {
  const g = new Generator(1);
  const n = 4000;
  let grid = 0;
  let hp = 0;
  let indep = 0;
  for (let i = 0; i < n; i++) {
    const m = sampleMscn(g, { gridRatio: 0.4, focalScale: [0.2, 0.5] }, 3, 28);
    assertEquals(m.cellSize, 4, "28 px, 7 cells a side: 4-pixel cells");
    if (m.highPass) hp++;
    if (m.channelIndependent) indep++;
    if (m.kind === "grid") {
      grid++;
      for (const cells of m.grid!) {
        assertEquals(cells.reduce((a, b) => a + b, 0), Math.round(0.4 * 49), "masked cells");
      }
      if (!m.channelIndependent) assert(m.grid![0] === m.grid![2], "shared mask across channels");
    } else {
      for (const b of m.focal!) {
        const frac = (b.height * b.width) / (28 * 28);
        assert(frac >= 0.2 - 0.04 && frac <= 0.5 + 0.04, `focal area ${frac}`);
        assert(b.top + b.height <= 28 && b.left + b.width <= 28, "focal box inside");
      }
    }
  }
  const within = (k: number, p: number) => Math.abs(k / n - p) < 5 * Math.sqrt((p * (1 - p)) / n);
  assert(within(grid, 0.5), `grid rate ${grid / n}`);
  assert(within(hp, 0.5), `high-pass rate ${hp / n}`);
  assert(within(indep, 0.5), `channel-independent rate ${indep / n}`);
  const m1 = sampleMscn(new Generator(2), { channelProb: 1 }, 1, 28);
  assert(!m1.channelIndependent, "1 channel: never channel-independent");
  assertEquals(sampleMscn(new Generator(3), { prob: 0 }, 3, 28).kind, "none", "prob 0");
});

Deno.test("MSCN bad inputs name the field", gpuTest, () => {
  const g = new Generator(0);
  assertThrows(() => sampleMscn(g, { gridRatio: 1.5 }, 3, 28), "gridRatio");
  assertThrows(() => sampleMscn(g, { focalScale: [0.6, 0.2] }, 3, 28), "focalScale");
  assertThrows(() => sampleMscn(g, { gridCells: 0 }, 3, 28), "gridCells");
  assertThrows(() => sampleMscn(g, { noiseStd: -1 }, 3, 28), "noiseStd");
  const x = tensor(new Float32Array(2 * 28 * 28), [2, 1, 28, 28]);
  assertThrows(() => mscnMask(x, [noMask()]), "masks");
  const bad = sampleMscn(new Generator(1), { prob: 1, gridProb: 1 }, 1, 32);
  assertThrows(() => mscnMask(x, [bad, bad]), "cellSize");
  x.dispose();
});
