/** The collector's debug flags, with the values of Python's `gc` module (defined in native/core/collector.h). */
import { collectorConstants } from './native';

const flags = collectorConstants.debugFlags;
export const DEBUG_STATS: number = flags.stats;
export const DEBUG_COLLECTABLE: number = flags.collectable;
export const DEBUG_UNCOLLECTABLE: number = flags.uncollectable;
export const DEBUG_SAVEALL: number = flags.saveAll;
export const DEBUG_LEAK: number = flags.leak;
