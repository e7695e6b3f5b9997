/**
 * Export a training checkpoint's evaluated backbone (the teacher, or what the run evaluated) as
 * a ViT weight file with its input normalisation in `__metadata__`, as the shipped
 * `weights/vit_micro_28_mugs.safetensors` was made:
 *
 *   deno run -A scripts/export_backbone.ts RUN_DIR OUT.safetensors [NOTE]
 *
 * `NOTE` (e.g. the command that trained it) is stored as `__metadata__.source`.
 */
import { init } from "../lib/gpu/device.ts";
import { loadBackbone } from "../lib/eval/backbone.ts";

if (import.meta.main) {
  const [run, out, note] = Deno.args;
  if (!run || !out?.endsWith(".safetensors")) {
    console.error("usage: deno run -A scripts/export_backbone.ts RUN_DIR OUT.safetensors [NOTE]");
    Deno.exit(2);
  }
  await init();
  const bb = await loadBackbone(run);
  if (!bb.mean || !bb.std) throw new Error(`${run}: the checkpoint records no mean/std`);
  await bb.vit.save(out, {
    mean: JSON.stringify(bb.mean),
    std: JSON.stringify(bb.std),
    network: bb.network ?? "",
    epoch: String(bb.epoch ?? ""),
    step: String(bb.step ?? ""),
    source: note ?? "",
  });
  console.log(`${out}: the ${bb.network} backbone of ${run} (epoch ${bb.epoch}, step ${bb.step})`);
}
