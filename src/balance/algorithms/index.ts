import type { Algorithm as AlgorithmName } from '../../config/types.js';
import type { Algorithm } from '../types.js';
import { random } from './random.js';
import { sticky } from './sticky.js';
import { wrr } from './wrr.js';

/** Every algorithm by its config name; a new one is a new file and one line here. */
export const ALGORITHM_IMPLS: Readonly<Record<AlgorithmName, Algorithm>> = { wrr, random, sticky };
