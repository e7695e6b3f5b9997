import { assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import { main, trainerConfig } from "../../lib/cli/train.ts";
import { presetDefaults } from "../../lib/mugs/config.ts";
import type { Dataset } from "../../lib/data/dataset.ts";

function fakeData(channels: number, size: number): Dataset {
  const n = 4;
  return {
    images: new Uint8Array(n * channels * size * size),
    labels: new Int32Array(n),
    n,
    channels,
    height: size,
    width: size,
    classes: ["a"],
  };
}

Deno.test("train cli: --help prints the options and exits 0", async () => {
  const log = console.log;
  const out: string[] = [];
  console.log = (s: string) => out.push(s);
  try {
    assertEquals(await main(["--help"]), 0);
  } finally {
    console.log = log;
  }
  assertEquals(out.join("\n").includes("--epoch-images"), true, "help lists options");
});

Deno.test("train cli: bad options fail before any GPU work, naming the flag", async () => {
  await assertRejects(() => main(["--epochs", "-3"]), "--epochs");
  await assertRejects(
    () => main(["--data", "/nonexistent/folder"]),
    "--data /nonexistent/folder: no such file",
  );
});

Deno.test("train cli: each preset's losses, pairing and temperatures reach the step", () => {
  const swav = trainerConfig(presetDefaults("swav"), fakeData(1, 28), "fashion-mnist");
  assertEquals(
    [swav.step.groupLoss, swav.step.pairing, swav.step.weights],
    ["swav", "dino", { instance: 0, localGroup: 0, group: 1 }],
  );
  const dino = trainerConfig(
    { ...presetDefaults("dino"), studentTemp: 0.2, centerMomentum: 0.8 },
    fakeData(1, 28),
    "fashion-mnist",
  );
  assertEquals(
    [dino.step.groupLoss, dino.step.pairing, dino.step.studentTemp, dino.step.centerMomentum],
    ["dino", "dino", 0.2, 0.8],
  );
});

Deno.test("train cli: the ViT follows the data's channels and size", () => {
  const c = presetDefaults("mugs");
  const t = trainerConfig(c, fakeData(3, 28), "fashion-mnist");
  assertEquals([t.vit.inChans, t.vit.imgSize], [3, 28]);
  assertThrows(
    () => trainerConfig(c, fakeData(1, 30), "fashion-mnist"),
    "needs square images divisible by its patch 4",
  );
});
