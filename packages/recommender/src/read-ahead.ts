/**
 * Where the recommender's read-ahead sweeps leave the sum of what they read, never read back: a sweep reads memory
 * a later step needs in reads that do not wait on each other (served in parallel, where the step would meet one
 * miss after another), and storing the sum keeps the reads from being optimised away.
 */
export const readAhead = { sink: 0 };
