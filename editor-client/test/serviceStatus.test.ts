// The status menu's model service entry: the lines of `offpilot models status` (pure; no vscode).
import { readFileSync } from 'fs';
import { describe, expect, it } from 'vitest';
import { megabytes, MODEL_SERVICE_REQUEST, serviceStatusLines } from '../src/serviceStatus';

// The shape of engine/service.py's Service.status(), as `offpilot models status --json` prints it.
const status = {
  pid: 4242, socket: '/run/user/1000/offpilot/model.sock', uptime_s: 93.4, idle_exit_s: 600,
  slots_per_model: 4, rss: 41_000_000, rss_total: 512_000_000,
  models: [{ path: '/home/u/.cache/gemma3/gemma-3-270m-q4_k_m.gguf', n_ctx: 4096, threads: 2, gpu_layers: 0,
    n_batch: 512, loaded: true, worker_pid: 4250, rss: 471_000_000, clients: 2, queued: 1, error: '' }],
  clients: [
    { id: 1, pid: 5001, slot: 0, model: '/home/u/.cache/gemma3/gemma-3-270m-q4_k_m.gguf', connected_s: 90, requests: 12,
      in_flight: 1, prompt_tokens: 1000, prompt_tokens_evaluated: 150, prompt_tokens_shifted: 20, cache_hit_rate: 0.85 },
    { id: 2, pid: 5002, slot: 1, model: '/home/u/.cache/gemma3/gemma-3-270m-q4_k_m.gguf', connected_s: 3, requests: 0,
      in_flight: 0, prompt_tokens: 0, prompt_tokens_evaluated: 0, prompt_tokens_shifted: 0, cache_hit_rate: null },
  ],
};

describe('serviceStatusLines', () => {
  it('shows the service, its models, clients, memory and queue', () => {
    const lines = serviceStatusLines({ running: true, status });
    expect(lines).toHaveLength(4);
    expect(lines[0]).toEqual({ label: '$(server-process) Service: pid 4242', description: '512 MB in all (service 41 MB)',
      detail: 'up 93 s · exits 600 s after the last client · /run/user/1000/offpilot/model.sock' });
    expect(lines[1]).toEqual({ label: '$(symbol-class) gemma-3-270m-q4_k_m.gguf', description: 'loaded · worker pid 4250 · 471 MB',
      detail: 'ctx 4096, 2 threads, gpu layers 0 · 2 clients · queue 1' });
    expect(lines[2]).toEqual({ label: '$(window) Server pid 5001 · slot 0', description: 'gemma-3-270m-q4_k_m.gguf',
      detail: '12 requests, 1 in flight, cache hits 85% (150 of 1000 prompt tokens evaluated)' });
    expect(lines[3].detail).toBe('0 requests, 0 in flight, cache hits - (0 of 0 prompt tokens evaluated)');
  });

  it('says why when no service runs, and names a worker that is down', () => {
    expect(serviceStatusLines({ running: false, message: 'no shared model service is running' }))
      .toEqual([{ label: '$(circle-slash) No shared model service is running', detail: 'no shared model service is running' }]);
    const down = { ...status, clients: [], models: [{ ...status.models[0], loaded: false, worker_pid: null, rss: null,
      error: 'the model worker stopped (exit code -9)' }] };
    expect(serviceStatusLines({ running: true, status: down })[1].description)
      .toBe('not loaded · not running the model worker stopped (exit code -9) · ?');
    expect(serviceStatusLines({ running: true, status: { ...status, models: [], clients: [] } })[1].label)
      .toBe('$(symbol-class) No model loaded');
  });

  it('lists the services of other installations after its own', () => {
    const others = [
      { socket: '/run/user/1000/offpilot/model-0123456789ab.sock', state: 'running', pid: 777, version: '0.9.0',
        package: '/opt/pipx/venvs/offpilot/lib/python3.12/site-packages/offpilot', prefix: '/opt/pipx/venvs/offpilot' },
      { socket: '/run/user/1000/offpilot/model-ba9876543210.sock', state: 'stopped', pid: null },
    ];
    const lines = serviceStatusLines({ running: true, status, others });
    expect(lines).toHaveLength(6);
    expect(lines[4]).toEqual({ label: "$(versions) Another installation's service: running, pid 777", description: '0.9.0',
      detail: '/opt/pipx/venvs/offpilot · /run/user/1000/offpilot/model-0123456789ab.sock' });
    expect(lines[5].label).toBe("$(versions) Another installation's service: stopped");
    const none = serviceStatusLines({ running: false, message: 'none', others: [others[0], 'odd', 3] });
    expect(none.map((l) => l.label)).toEqual(['$(circle-slash) No shared model service is running',
      "$(versions) Another installation's service: running, pid 777"]);
  });

  it('does not trust the shape of what came back', () => {
    expect(serviceStatusLines(null)[0].label).toContain('no model service status');
    expect(serviceStatusLines({ running: true, status: 'odd' })[0].label).toContain('No shared model service');
    const odd = serviceStatusLines({ running: true, status: { pid: 'x', models: [7, { path: 3 }], clients: 'none' } });
    expect(odd.map((l) => l.label)).toEqual(['$(server-process) Service: pid ?', '$(symbol-class) ?']);
    expect(megabytes(undefined)).toBe('?');
  });
});

describe('the status menu entry', () => {
  it('is a contributed command that sends the request', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.contributes.commands.map((c: { command: string }) => c.command)).toContain('offpilot.showModelService');
    const commands = readFileSync(new URL('../src/commands.ts', import.meta.url), 'utf8');
    expect(commands).toContain("command: 'offpilot.showModelService'");
    expect(commands).toContain('sendRequest(MODEL_SERVICE_REQUEST');
    expect(MODEL_SERVICE_REQUEST).toBe('offpilot/modelService'); // tests/reliability/test_shared_model.py asks a real server
  });
});
