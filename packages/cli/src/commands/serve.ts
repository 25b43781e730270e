import { refuseMissingDatabase } from '../postgres';

/** `elevens serve <service>`: loads only the service it runs. */
export async function serveCommand(service: 'api' | 'ingest') {
  // The service's own check first, so a bad environment is named whole as the service names it.
  if (service === 'api') {
    const { loadApiConfig, startApiServer } = await import('@elevens/api');
    await refuseMissingDatabase(loadApiConfig(process.env).DATABASE_URL);
    await startApiServer(process.env);
  } else {
    const { loadIngestConfig, startIngestServer } = await import('@elevens/ingest');
    await refuseMissingDatabase(loadIngestConfig(process.env).DATABASE_URL);
    await startIngestServer(process.env);
  }
}
