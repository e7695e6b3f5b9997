/**
 * Every notebook in notebooks/ runs headless with Deno's Jupyter kernel
 * (`jupyter nbconvert --execute`), in name order, and fails the run on any cell error.
 * `./mugs test` (scripts/setup.sh) installs Debian's jupyter-nbconvert and jupyter-client and
 * registers the kernel.
 */
import { assert } from "./helpers.ts";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../notebooks/", import.meta.url));
let entries: Deno.DirEntry[] = [];
try {
  entries = [...Deno.readDirSync(dir)];
} catch {
  // no notebooks/ folder: nothing to run
}
const notebooks = entries.filter((e) => e.name.endsWith(".ipynb")).map((e) => e.name).sort();

async function jupyterReady(): Promise<string | null> {
  try {
    const out = await new Deno.Command("jupyter", {
      args: ["kernelspec", "list"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder().decode(out.stdout);
    if (!/\bdeno\b/.test(text)) {
      return "the Deno kernel is not registered: run `deno jupyter --install`";
    }
    return null;
  } catch {
    return "jupyter is not installed: `apt-get install -y jupyter-nbconvert jupyter-client` (or run ./mugs setup)";
  }
}

for (const name of notebooks) {
  Deno.test({
    name: `notebook: ${name} executes without errors`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const missing = await jupyterReady();
      assert(missing === null, `cannot execute notebooks: ${missing}`);
      const out = await Deno.makeTempDir({ prefix: "mugs-nb-" });
      const cmd = new Deno.Command("jupyter", {
        args: [
          "nbconvert",
          "--to",
          "notebook",
          "--execute",
          "--ExecutePreprocessor.timeout=900",
          "--ExecutePreprocessor.kernel_name=deno",
          `--output-dir=${out}`,
          `${dir}${name}`,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      });
      const res = await cmd.output();
      const err = new TextDecoder().decode(res.stderr);
      assert(res.success, `${name} failed:\n${err.split("\n").slice(-40).join("\n")}`);
      const executed = JSON.parse(await Deno.readTextFile(`${out}/${name}`));
      for (const cell of executed.cells) {
        for (const o of cell.outputs ?? []) {
          assert(o.output_type !== "error", `${name}: a cell raised ${o.ename}: ${o.evalue}`);
        }
      }
    },
  });
}
