import { clamp } from "./utils";

export function volume(level: number): number {
  return clamp(level, 0, 11);
}
