import { assertClose, assertEquals, assertThrows, gpuTest, setup } from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { weightedTotal } from "../../lib/losses/total.ts";

await setup();

Deno.test(
  "weightedTotal: weighted mean; a weight of 0 never computes its loss",
  gpuTest,
  async () => {
    const calls: string[] = [];
    const term = (name: string, weight: number, value: number) => ({
      name,
      weight,
      compute: () => {
        calls.push(name);
        return tensor(value);
      },
    });
    const r = weightedTotal([term("instance", 2, 1.5), term("local", 0, 9), term("group", 0.5, 4)]);
    assertEquals(calls, ["instance", "group"], "computed");
    assertEquals(r.skipped, ["local"], "skipped");
    assertEquals(Object.keys(r.losses), ["instance", "group"]);
    assertClose(
      [await r.total.item()],
      [(2 * 1.5 + 0.5 * 4) / 2.5],
      { atol: 1e-6, rtol: 1e-6 },
      "mean",
    );
    const off = weightedTotal([term("a", 2, 1.5), term("b", 0.5, 4)], "official");
    assertClose(
      [await off.total.item()],
      [(1.5 + 4) / 2.5],
      { atol: 1e-6, rtol: 1e-6 },
      "official",
    );
    const sum = weightedTotal([term("a", 2, 1.5), term("b", 0.5, 4)], "sum");
    assertClose([await sum.total.item()], [2 * 1.5 + 0.5 * 4], { atol: 1e-6, rtol: 1e-6 }, "sum");
    const one = weightedTotal([term("a", 1, 3)]);
    assertEquals(one.total !== one.losses.a, true, "the total is its own tensor");
  },
);

Deno.test("weightedTotal: gradients flow with the weights", gpuTest, async () => {
  const a = tensor([1, 2], undefined, { requiresGrad: true });
  const { total } = weightedTotal([
    { name: "a", weight: 3, compute: () => a.sum() },
    { name: "b", weight: 1, compute: () => a.mul(a).sum() },
  ]);
  total.backward();
  // d/da (3 * sum(a) + sum(a^2)) / 4 = (3 + 2a) / 4
  assertClose(await a.grad!.toArray(), [5 / 4, 7 / 4], { atol: 1e-6, rtol: 1e-6 }, "grad");
});

Deno.test("weightedTotal: bad weights are refused", () => {
  const t = (weight: number, name = "x") => ({ name, weight, compute: () => tensor(0) });
  assertThrows(() => weightedTotal([t(0), t(0, "y")]), "every weight is 0 (x, y)");
  assertThrows(() => weightedTotal([t(-1)]), 'weight of "x" must be finite and >= 0');
  assertThrows(() => weightedTotal([t(NaN)]), "finite");
  assertThrows(() => weightedTotal([t(1), t(1)]), "given twice");
});
