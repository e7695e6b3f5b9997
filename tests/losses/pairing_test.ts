import { assertEquals, assertThrows } from "../helpers.ts";
import { pairWeights } from "../../lib/losses/pairing.ts";

Deno.test("pairing: 2 teacher x (2 global + 3 local) student views, Mugs averaging", () => {
  const p = pairWeights({ teacherViews: 2, studentViews: 5 });
  assertEquals(p.pairs, [[0, 1], [0, 2], [0, 3], [0, 4], [1, 0], [1, 2], [1, 3], [1, 4]], "pairs");
  assertEquals(p.nLarge, 2, "large-crop terms");
  assertEquals(p.nSmall, 6, "small-crop terms");
  // 0.5 * mean(large) + 0.5 * mean(small)
  assertEquals(p.weights, [[0, 0.25, 1 / 12, 1 / 12, 1 / 12], [0.25, 0, 1 / 12, 1 / 12, 1 / 12]]);
  const total = p.weights.flat().reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-15) throw new Error(`weights sum to ${total}`);
});

Deno.test("pairing: DINO's plain mean over n_loss_terms", () => {
  const p = pairWeights({ teacherViews: 2, studentViews: 12, mode: "dino" });
  assertEquals(p.pairs.length, 22, "n_loss_terms for 2 global + 10 local");
  for (const [t, v] of p.pairs) assertEquals(p.weights[t][v], 1 / 22);
  assertEquals(p.weights[0][0] + p.weights[1][1], 0, "same-index pairs skipped");
});

Deno.test("pairing: no local crops, one group only; sameView remaps the skipped pair", () => {
  const p = pairWeights({ teacherViews: 2, studentViews: 2 });
  assertEquals(p.weights, [[0, 0.5], [0.5, 0]]);
  assertEquals(p.nSmall, 0);
  const s = pairWeights({ teacherViews: 1, studentViews: 3, sameView: [2], mode: "dino" });
  assertEquals(s.pairs, [[0, 0], [0, 1]]);
  const only = pairWeights({ teacherViews: 2, studentViews: 6, globalViews: 0 });
  assertEquals(only.nLarge, 0);
  assertEquals(only.weights[0][1], 1 / 10);
});

Deno.test("pairing: bad counts are refused", () => {
  assertThrows(() => pairWeights({ teacherViews: 1, studentViews: 1 }), "no pairs");
  assertThrows(() => pairWeights({ teacherViews: 0, studentViews: 4 }), "teacherViews");
  assertThrows(() => pairWeights({ teacherViews: 2, studentViews: 2.5 }), "studentViews");
  assertThrows(
    () => pairWeights({ teacherViews: 2, studentViews: 4, mode: "x" as "dino" }),
    "mode",
  );
  assertThrows(() => pairWeights({ teacherViews: 2, studentViews: 4, sameView: [0] }), "sameView");
});
