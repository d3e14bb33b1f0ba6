// Time as a dependency: production uses the wall clock, tests inject their own.

/** Milliseconds since the Unix epoch. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
