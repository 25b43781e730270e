/**
 * The runtime a benchmark measures. Elevens runs on Node 22 and 24 (package.json `engines`; its images run
 * Node 24) from its compiled packages; a figure taken on another Node, or on the TypeScript sources, says less
 * about what users get. Every benchmark imports this first: it stops on a Node Elevens does not support, and
 * `RUNTIME` names the Node and the code measured in the run's header.
 */
const SUPPORTED_MAJOR = 22;

if (Number(process.versions.node.split('.')[0]) < SUPPORTED_MAJOR) {
  console.error(
    `benchmarks run on Node ${SUPPORTED_MAJOR} or later, as Elevens does; this is Node ${process.version}: ` +
      'put a supported node first on PATH',
  );
  process.exit(1);
}

/** The packages resolve to their compiled dist/ (as in production) unless the source condition is set. */
const measuresSources = import.meta.resolve('@elevens/domain').includes('/src/');

export const RUNTIME = `Node ${process.version}, ${measuresSources ? 'TypeScript sources (tsx)' : 'compiled packages (dist/)'}`;
