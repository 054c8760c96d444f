// Relative URLs: CloudFront serves the SPA and routes /api/* to the API on the same origin.

export interface Item { id: string; name: string; description: string; createdAt: string }
export interface Job { id: string; itemId: string; status: 'queued' | 'done' | 'failed'; result: unknown }

export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init?.body) headers['content-type'] = 'application/json';
  const res = await fetch(path, { ...init, headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(body?.message ? `${res.status}: ${body.message}` : `${res.status} ${res.statusText}`, res.status);
  return body as T;
}

export const listItems = () => request<{ items: Item[] }>('/api/items').then((r) => r.items);
export const getItem = (id: string) => request<Item>(`/api/items/${encodeURIComponent(id)}`);
export const createItem = (name: string) => request<Item>('/api/items', { method: 'POST', body: JSON.stringify({ name }) });
export const startJob = (itemId: string) => request<Job>('/api/jobs', { method: 'POST', body: JSON.stringify({ itemId }) });
export const getJob = (id: string) => request<Job>(`/api/jobs/${encodeURIComponent(id)}`);
