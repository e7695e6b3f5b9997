/**
 * `deno task bench`: one JSON object per line, each with `name`, `adapter` and its figures
 * (`gflops`, `ms`, `images_per_s`, …). Flags: `--all-kernels` also times the kernel shapes
 * the adapter would not use; `--only=<substring>` runs the matching benchmarks.
 */
import { parseArgs } from "node:util";
import { init } from "../lib/gpu/device.ts";
import { benchInit } from "./harness.ts";
import { benchKernels } from "./kernels.ts";
import { benchTrainStep } from "./train_step.ts";
import { benchAugment } from "./augment.ts";
import { benchMugsStep } from "./mugs_step.ts";
import { benchKnn } from "./knn.ts";
import { benchTsne } from "./tsne.ts";
import { benchRoofline } from "./roofline.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "all-kernels": { type: "boolean", default: false },
    only: { type: "string", default: "" },
  },
});
await benchInit();
const info = await init();
const want = (name: string) => !values.only || name.includes(values.only);
if (want("kernels")) await benchKernels(values["all-kernels"]!, info.isFallback);
if (want("roofline")) await benchRoofline();
if (want("train")) await benchTrainStep();
if (want("augment")) await benchAugment();
if (want("mugs")) await benchMugsStep();
if (want("knn")) await benchKnn();
if (want("tsne")) { for (const line of await benchTsne()) console.log(JSON.stringify(line)); }
