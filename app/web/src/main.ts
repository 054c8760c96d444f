import './style.css';
import { ApiError, createItem, getItem, getJob, listItems, startJob, type Job } from './api';

const app = document.querySelector<HTMLElement>('#app')!;
const errorBox = document.querySelector<HTMLElement>('#error')!;

// Small DOM helper; text only (no innerHTML), so item names can never inject markup.
function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

function showError(err: unknown) {
  errorBox.textContent = err instanceof Error ? err.message : String(err);
  errorBox.hidden = false;
}

function link(href: string, text: string) {
  const a = el('a', { href }, text);
  a.dataset.link = '';
  return a;
}

async function renderList() {
  const list = el('ul', { id: 'items' });
  const input = el('input', { name: 'name', placeholder: 'New item', required: true, maxLength: 200 });
  const form = el('form', { id: 'add-item' }, input, el('button', { type: 'submit' }, 'Add'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const item = await createItem(input.value);
      input.value = '';
      list.prepend(el('li', {}, link(`/items/${item.id}`, item.name)));
    } catch (err) {
      showError(err);
    }
  });
  app.replaceChildren(el('h1', {}, 'Items'), form, list);
  const items = await listItems();
  list.append(...items.map((i) => el('li', {}, link(`/items/${i.id}`, i.name))));
}

// Polls a job until it ends, and stops for good when it failed or vanished (404): a job that
// will never change is not asked about again. Errors that may pass (5xx, network: the API or its
// database is briefly away) are retried with back-off; after POLL_LIMIT_MS the page stops and
// says so instead of polling forever. Returns the text to show.
const POLL_LIMIT_MS = 10 * 60 * 1000;
async function waitForJob(job: Job): Promise<string> {
  const started = Date.now();
  let delay = 500;
  while (Date.now() - started < POLL_LIMIT_MS) {
    await new Promise((r) => setTimeout(r, delay));
    try {
      job = await getJob(job.id);
      delay = 500;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return 'job vanished: it no longer exists';
      if (err instanceof ApiError && err.status < 500) throw err;
      delay = Math.min(delay * 2, 15000); // transient: back off
      continue;
    }
    if (job.status === 'done') return `job done: ${JSON.stringify(job.result)}`;
    if (job.status === 'failed') return 'job failed';
  }
  return 'job still queued: stopped checking; reload to look again';
}

async function renderItem(id: string) {
  const item = await getItem(id);
  const status = el('p', { id: 'job-status', className: 'muted' });
  const run = el('button', { id: 'run-job', type: 'button' }, 'Count words');
  run.addEventListener('click', async () => {
    try {
      const job: Job = await startJob(item.id);
      status.textContent = `job ${job.status}`;
      status.textContent = await waitForJob(job);
    } catch (err) {
      showError(err);
    }
  });
  app.replaceChildren(
    el('h1', { id: 'item-name' }, item.name),
    el('p', {}, item.description || 'No description.'),
    el('p', { className: 'muted' }, `Created ${new Date(item.createdAt).toLocaleString()}`),
    run,
    status,
    link('/', '← All items'),
  );
}

// Client-side routes: / and /items/:id. CloudFront answers any other path with index.html.
async function route() {
  errorBox.hidden = true;
  const match = location.pathname.match(/^\/items\/([^/]+)$/);
  try {
    if (match) await renderItem(decodeURIComponent(match[1]));
    else await renderList();
  } catch (err) {
    showError(err);
  }
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest<HTMLAnchorElement>('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  history.pushState(null, '', a.href);
  void route();
});
window.addEventListener('popstate', () => void route());
void route();
