// Small helpers for errors coming back from the server.
import { LSPErrorCodes, ResponseError } from 'vscode-languageserver-protocol';

export function isCancellation(error: unknown): boolean {
  return error instanceof ResponseError && error.code === LSPErrorCodes.RequestCancelled;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
