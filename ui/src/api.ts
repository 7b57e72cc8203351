// The sink's API through Argo CD's proxy extension (docs/ui.md). Argo CD forwards
// /extensions/sluice/… to the sink after checking the user's access to the Application named in the
// Argocd-Application-Name header; the UI sends that header itself, and the session cookie
// authenticates the request.
import type {Application} from './globals';

/** The path prefix Argo CD's proxy strips (extension name `sluice`). */
export const PROXY = '/extensions/sluice';

export type Json = null | boolean | number | string | Json[] | {[key: string]: Json};

/** One change as the sink describes it (src/sink/ui/summary.rs). */
export interface Change {
    changeId: string | null;
    key: string;
    app: string | null;
    revision: string | null;
    first: string | null;
    last: string | null;
    status: {line: string; red: boolean; findings: string[]};
    commit: {subject?: string; author?: string | null; date?: string | null} | null;
    approvals: {[key: string]: Json};
    window: {[key: string]: Json} | null;
    backup: {name: string | null; phase: string | null; summary: string | null};
    migrations: string | null;
    verification: {[key: string]: Json} | null;
    ticket: {[key: string]: Json} | null;
    trailers: {[key: string]: string | null};
    emergency: string | null;
    findings: {seq: number; finding: string; at: string}[];
    syncs: {[key: string]: Json}[];
    rollback: string[];
    records?: {[key: string]: Json}[];
}

export interface Status {
    current: Change | null;
}

export interface History {
    page: {records: number; first: number | null; last: number | null; limit: number; next: string | null};
    current: Change | null;
    changes: Change[];
}

/** `GET …/apps/NS/NAME/WHAT`, with the headers Argo CD's proxy authorises on. */
export async function get<T>(app: Application, what: string): Promise<T> {
    const namespace = app.metadata.namespace || 'argocd';
    const name = app.metadata.name;
    const url = `${PROXY}/v1/ui/apps/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${what}`;
    const response = await fetch(url, {
        credentials: 'same-origin',
        headers: {
            'Argocd-Application-Name': `${namespace}:${name}`,
            'Argocd-Project-Name': app.spec.project || 'default',
        },
    });
    if (!response.ok) {
        let message = `${response.status} ${response.statusText}`;
        try {
            const body = await response.json();
            if (body && typeof body.error === 'string') message = body.error;
        } catch {
            // Not JSON (Argo CD's own refusal is text): the status says enough.
        }
        throw new Error(message);
    }
    return (await response.json()) as T;
}
