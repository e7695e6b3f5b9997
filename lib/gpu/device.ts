/**
 * The WebGPU adapter and device: one call, `init()`, gets them.
 *
 * The backend can be forced with the environment variable `MUGS_ADAPTER`:
 * `fallback` asks for the software adapter (Mesa's llvmpipe), `gpu` refuses a
 * software adapter, `auto` (default) takes what the system offers. `MUGS_KERNELS`
 * (`cpu` | `gpu`) forces which kernel shapes are used, independently of the adapter.
 */
import { Runtime } from "./runtime.ts";

/** What `init()` found. */
export interface DeviceInfo {
  /** The adapter's description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  adapter: string;
  /** True for a software (fallback) adapter such as llvmpipe. */
  isFallback: boolean;
  /** Which kernel shapes are used: register-blocked (`cpu`) or shared-memory tiled (`gpu`). */
  kernels: "cpu" | "gpu";
}

/** Options for `init()`; environment variables apply when a field is absent. */
export interface InitOptions {
  adapter?: "auto" | "fallback" | "gpu";
  kernels?: "cpu" | "gpu";
}

const MESA_HINT =
  "No WebGPU adapter found. On Debian/Ubuntu without a GPU, install Mesa's software adapter: " +
  "`apt-get install -y libgl1-mesa-dri mesa-vulkan-drivers`.";

let current: Runtime | null = null;
let pending: Promise<Runtime> | null = null;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) ?? undefined;
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

function pick<T extends string>(
  name: string,
  value: string | undefined,
  allowed: T[],
): T | undefined {
  if (value === undefined || value === "") return undefined;
  if (!allowed.includes(value as T)) {
    throw new Error(`${name}=${value} is not one of ${allowed.join(", ")}`);
  }
  return value as T;
}

async function create(opts: InitOptions): Promise<Runtime> {
  if (typeof navigator === "undefined" || !navigator.gpu) {
    throw new Error("navigator.gpu is missing: this runtime has no WebGPU. " + MESA_HINT);
  }
  const mode = opts.adapter ??
    pick("MUGS_ADAPTER", env("MUGS_ADAPTER"), ["auto", "fallback", "gpu"]) ??
    "auto";
  const adapter = mode === "fallback"
    ? await navigator.gpu.requestAdapter({ forceFallbackAdapter: true })
    : await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error(MESA_HINT);
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const isFallback = Boolean(
    info.isFallbackAdapter ??
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  ) || /llvmpipe|swiftshader|lavapipe|software/i.test(info.description ?? "");
  if (mode === "gpu" && isFallback) {
    throw new Error(
      `MUGS_ADAPTER=gpu but the only adapter is a software one (${info.description}); unset it to use it.`,
    );
  }
  const l = adapter.limits;
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    },
  });
  const kernels = opts.kernels ?? pick("MUGS_KERNELS", env("MUGS_KERNELS"), ["cpu", "gpu"]) ??
    (isFallback ? "cpu" : "gpu");
  const description = info.description ||
    [info.vendor, info.architecture, info.device].filter(Boolean)
      .join(" ") ||
    "unknown adapter";
  return new Runtime(device, { adapter: description, isFallback, kernels });
}

/**
 * Get the WebGPU device (once; later calls return the same runtime's info).
 *
 * @example
 * ```ts
 * const info = await init();
 * console.log(info.adapter, info.isFallback);
 * ```
 */
export async function init(opts: InitOptions = {}): Promise<DeviceInfo> {
  if (current && !current.lost) return current.info;
  if (!pending) pending = create(opts).finally(() => (pending = null));
  current = await pending;
  return current.info;
}

/** The runtime that `init()` created; throws if `init()` has not been awaited yet. */
export function runtime(): Runtime {
  if (!current) throw new Error("WebGPU is not initialised: call `await init()` first.");
  if (current.lost) {
    throw new Error(`the WebGPU device was lost (${current.lost}); call init() again.`);
  }
  return current;
}

/**
 * Forget the current runtime so the next `init()` makes a new device (switching
 * backends, recovering from device loss). Tensors of the old device are then rejected.
 */
export function resetRuntime(): void {
  current?.flush();
  current = null;
}

/**
 * Switch kernel shapes at run time (benchmarks and tests compare both); returns the previous.
 *
 * @example
 * ```ts
 * const prev = useKernels("gpu");
 * ```
 */
export function useKernels(kernels: "cpu" | "gpu"): "cpu" | "gpu" {
  const rt = runtime();
  const prev = rt.info.kernels;
  (rt.info as { kernels: "cpu" | "gpu" }).kernels = kernels;
  return prev;
}

/**
 * Submit pending GPU work, wait for it, and throw any GPU error it raised.
 *
 * @example
 * ```ts
 * await sync();
 * ```
 */
export function sync(): Promise<void> {
  return runtime().sync();
}

/**
 * Buffer-pool and dispatch counters (a training loop should keep `buffers` flat).
 *
 * @example
 * ```ts
 * console.log(gpuStats().buffers);
 * ```
 */
export function gpuStats(): ReturnType<Runtime["stats"]> {
  return runtime().stats();
}
