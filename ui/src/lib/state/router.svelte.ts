// Hash routing (#/flows, #/secrets …): the hub serves one index.html, and fragments never reach the server.

export type Page = 'flows' | 'secrets' | 'log' | 'ca' | 'sessions';

export const PAGES: ReadonlyArray<{ page: Page; label: string }> = [
  { page: 'flows', label: 'Flows' },
  { page: 'secrets', label: 'Exposed secrets' },
  { page: 'log', label: 'Event log' },
  { page: 'ca', label: 'CA & setup' },
  { page: 'sessions', label: 'Sessions & export' },
];

/** The page named by a location hash; unknown hashes show the flow list. */
export function pageFromHash(hash: string): Page {
  const name = hash.replace(/^#\/?/, '').split('/')[0];
  return PAGES.some((p) => p.page === name) ? (name as Page) : 'flows';
}

export class Router {
  page = $state<Page>(pageFromHash(window.location.hash));

  constructor() {
    window.addEventListener('hashchange', () => {
      this.page = pageFromHash(window.location.hash);
    });
  }

  go(page: Page): void {
    window.location.hash = `#/${page}`;
  }
}
