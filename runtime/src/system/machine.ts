import { cpus, freemem, loadavg, totalmem } from "node:os";

const MB = 1024 * 1024;

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryMb: number;
  memoryFreeMb: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? "unknown",
    cores: Math.max(1, list.length || navigator.hardwareConcurrency || 1),
    memoryMb: Math.max(1, Math.floor(totalmem() / MB)),
    memoryFreeMb: Math.floor(freemem() / MB),
  };
}

/** One-minute load average per core (1.0 = every core busy). */
export function cpuLoad(): number {
  const cores = Math.max(1, cpus().length);
  return Math.round(((loadavg()[0] ?? 0) / cores) * 100) / 100;
}
