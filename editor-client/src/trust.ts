// Workspace Trust: what the server is told about it and how the user is offered to grant it.
// Pure (no vscode): in Restricted Mode the server runs none of the workspace's code.

/** The server setting (`offpilot.workspaceTrusted`) that carries `vscode.workspace.isTrusted`. */
export const TRUST_SETTING = 'workspaceTrusted';
export const MANAGE_TRUST = 'Manage Workspace Trust';
export const MANAGE_TRUST_COMMAND = 'workbench.trust.manage';

/** The server settings with the workspace's trust added: the editor's word, never a setting's. */
export function withTrust(settings: Record<string, unknown>, trusted: boolean): Record<string, unknown> {
  return { ...settings, [TRUST_SETTING]: trusted };
}

/** Whether a server answer says it ran nothing because the workspace is not trusted. */
export function refusedForTrust(result: unknown): boolean {
  return typeof result === 'object' && result !== null &&
    (result as Record<string, unknown>)[TRUST_SETTING] === false;
}
