import type { Logger } from '../log/types.js';

/**
 * Nothing may reach stderr while serving: under spawn(8) it is Postfix's
 * connection, where a stray line is read as a reply. Node's own warnings and
 * an exception no code caught go to the log instead. Every reply is written
 * in the tick that decided it, so after such an exception no request is
 * waiting for an answer, and the instance goes on serving.
 */
export function guardProcess(logger: Logger, internalError: (err: unknown) => void): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => logger.log('warning', `node: ${w.name}: ${w.message}`));
  process.on('uncaughtException', internalError);
  process.on('unhandledRejection', internalError);
}

