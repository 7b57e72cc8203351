// The extension's views: the status-panel item, the change history, one change's evidence. Every view
// is wrapped in a boundary: nothing in Argo CD's UI catches an extension's error, and a throw in the
// status panel blanks the whole application page.
import type {Application, Resource} from './globals';
import {get, Change, History, Json, Status} from './api';

const RED = '#b42318';
const GREEN = '#116329';
const MUTED = '#57606a';

/** Catches what a view throws, and shows it in place of the view. */
export class Boundary extends React.Component<{children?: React.ReactNode}, {error: string | null}> {
    state = {error: null as string | null};
    static getDerivedStateFromError(error: unknown) {
        return {error: error instanceof Error ? error.message : String(error)};
    }
    render() {
        if (this.state.error !== null) {
            return <div role='alert' style={{color: RED, padding: '4px'}}>sluice: {this.state.error}</div>;
        }
        return this.props.children;
    }
}

type Load<T> = {data?: T; error?: string};

/** Loads `what` of the app once per app. */
function useLoad<T>(app: Application, what: string): Load<T> {
    const [state, setState] = React.useState<Load<T>>({});
    const key = `${app.metadata.namespace}/${app.metadata.name}/${app.spec.project}/${what}`;
    React.useEffect(() => {
        let live = true;
        setState({});
        get<T>(app, what).then(
            data => live && setState({data}),
            (e: unknown) => live && setState({error: e instanceof Error ? e.message : String(e)}),
        );
        return () => {
            live = false;
        };
    }, [key]);
    return state;
}

function text(v: Json | undefined): string {
    if (v === null || v === undefined || v === '') return '—';
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
}

/** The status-panel item: its own label (Argo CD never shows the registered title), the change, and
 * red when a finding stands. A click opens the flyout. */
export function StatusItem(props: {application: Application; openFlyout: () => unknown}) {
    const {data, error} = useLoad<Status>(props.application, 'status');
    const current = data?.current;
    const red = !!current?.status.red;
    const line = error ? `unavailable: ${error}` : !data ? 'loading…' : current ? current.status.line : 'no change recorded';
    return (
        <div className='application-status-panel__item' data-testid='sluice-status' data-red={red ? 'true' : 'false'}>
            <div className='application-status-panel__item-name' style={{fontWeight: 600, letterSpacing: '0.05em', color: MUTED}}>
                CHANGE (SLUICE)
            </div>
            <button
                type='button'
                onClick={() => props.openFlyout()}
                aria-label={`Change record: ${line}. Open the change's evidence`}
                style={{
                    background: red ? '#fdecea' : 'transparent',
                    border: `1px solid ${red ? RED : '#d0d7de'}`,
                    borderRadius: '4px',
                    color: red ? RED : 'inherit',
                    cursor: 'pointer',
                    fontWeight: red ? 700 : 400,
                    padding: '2px 8px',
                    textAlign: 'left',
                }}>
                {red && <span aria-hidden='true'>⚠ </span>}
                <span className='application-status-panel__item-value' data-testid='sluice-status-line'>
                    {line}
                </span>
            </button>
        </div>
    );
}

/** The flyout of the status-panel item: the current change's evidence. */
export function Flyout(props: {application: Application}) {
    const {data, error} = useLoad<Status>(props.application, 'status');
    if (error) return <p role='alert'>sluice: {error}</p>;
    if (!data) return <p>Loading…</p>;
    if (!data.current) return <p>No change is recorded for this application.</p>;
    return (
        <div style={{padding: '8px 16px'}} data-testid='sluice-flyout'>
            <ChangeDetail change={data.current} level={2} />
        </div>
    );
}

/** The application tab: the change history, newest first, each change's evidence behind a button. */
export function HistoryTab(props: {application: Application}) {
    const {data, error} = useLoad<History>(props.application, 'changes');
    const [open, setOpen] = React.useState<string | null>(null);
    if (error) return <p role='alert'>sluice: {error}</p>;
    if (!data) return <p>Loading the change history…</p>;
    if (data.changes.length === 0) return <p>No change is recorded for this application.</p>;
    return (
        <div style={{padding: '8px 0'}} data-testid='sluice-history'>
            <h2 style={{fontSize: '16px'}}>Change history of {props.application.metadata.name}</h2>
            <p style={{color: MUTED}}>
                The latest {data.page.records} records, grouped into {data.changes.length} changes; the auditor's page of the sink has the rest.
            </p>
            <table style={{width: '100%', borderCollapse: 'collapse'}}>
                <thead>
                    <tr>
                        <th scope='col' style={cell}>Change</th>
                        <th scope='col' style={cell}>Last record</th>
                        <th scope='col' style={cell}>Status</th>
                        <th scope='col' style={cell}>Evidence</th>
                    </tr>
                </thead>
                <tbody>
                    {data.changes.map(c => (
                        <React.Fragment key={c.key}>
                            <tr data-testid='sluice-change-row'>
                                <td style={cell}>{c.changeId ?? c.key}</td>
                                <td style={cell}>{c.last ?? '—'}</td>
                                <td style={{...cell, color: c.status.red ? RED : 'inherit', fontWeight: c.status.red ? 700 : 400}}>{c.status.line}</td>
                                <td style={cell}>
                                    <button type='button' aria-expanded={open === c.key} onClick={() => setOpen(open === c.key ? null : c.key)}>
                                        {open === c.key ? 'Hide' : 'Show'} evidence of {c.changeId ?? c.key}
                                    </button>
                                </td>
                            </tr>
                            {open === c.key && (
                                <tr>
                                    <td colSpan={4} style={cell}>
                                        <ChangeDetail change={c} level={3} />
                                    </td>
                                </tr>
                            )}
                        </React.Fragment>
                    ))}
                </tbody>
            </table>
        </div>
    );
}

/** The resource tab of a Velero Backup or a guard Job: the change it belongs to. */
export function ResourceTab(props: {application: Application; resource: Resource}) {
    const {data, error} = useLoad<History>(props.application, 'changes');
    const r = props.resource;
    const labels = r.metadata?.labels ?? {};
    const isBackup = r.kind === 'Backup';
    if (!isBackup && labels['app.kubernetes.io/managed-by'] !== 'sluice') {
        return <p>This Job is not one of sluice's guard Jobs.</p>;
    }
    if (error) return <p role='alert'>sluice: {error}</p>;
    if (!data) return <p>Loading…</p>;
    const name = r.metadata?.name ?? '';
    const changeLabel = labels['sluice.io/change-id'];
    const revision = labels['sluice.io/revision'];
    const change = data.changes.find(c =>
        isBackup
            ? c.backup.name === name
            : (changeLabel && c.changeId === changeLabel) || (!!revision && !!c.revision && c.revision.startsWith(revision)),
    );
    return (
        <div style={{padding: '8px 0'}} data-testid='sluice-resource'>
            <h2 style={{fontSize: '16px'}}>
                {isBackup ? `Backup ${name}` : `Guard Job ${name}`}
                {isBackup && r.status?.phase ? ` (${r.status.phase})` : ''}
            </h2>
            {change ? <ChangeDetail change={change} level={3} /> : <p>No recorded change names this {isBackup ? 'backup' : 'Job'} yet.</p>}
        </div>
    );
}

const cell: React.CSSProperties = {border: '1px solid #d0d7de', padding: '4px 6px', textAlign: 'left', verticalAlign: 'top'};

function Rows(props: {title: string; rows: [string, Json | undefined][]; level: number}) {
    const H = `h${props.level}` as 'h2' | 'h3';
    return (
        <section>
            <H style={{fontSize: '14px', margin: '12px 0 4px'}}>{props.title}</H>
            <table style={{width: '100%', borderCollapse: 'collapse'}}>
                <tbody>
                    {props.rows.map(([k, v]) => (
                        <tr key={k}>
                            <th scope='row' style={{...cell, width: '30%', background: '#f6f8fa'}}>{k}</th>
                            <td style={{...cell, whiteSpace: 'pre-wrap', wordBreak: 'break-word'}}>{text(v)}</td>
                        </tr>
                    ))}
                </tbody>
            </table>
        </section>
    );
}

/** Everything the sink holds about one change. */
export function ChangeDetail(props: {change: Change; level: number}) {
    const c = props.change;
    const a = c.approvals;
    const w = c.window ?? {};
    const v = c.verification ?? {};
    const H = `h${props.level}` as 'h2' | 'h3';
    const approvers = Array.isArray(a.approvers) ? (a.approvers as {[k: string]: Json}[]) : [];
    const dismissed = Array.isArray(a.dismissed) ? (a.dismissed as {[k: string]: Json}[]) : [];
    return (
        <article data-testid='sluice-change'>
            <H style={{fontSize: '15px', margin: '4px 0'}}>Change {c.changeId ?? c.key}</H>
            <p
                data-testid='sluice-change-status'
                style={{border: `2px solid ${c.status.red ? RED : GREEN}`, borderRadius: '4px', padding: '4px 8px', color: c.status.red ? RED : 'inherit', fontWeight: 600}}>
                {c.status.line}
            </p>
            <Rows
                level={props.level + 1}
                title='Change'
                rows={[
                    ['Revision', c.revision],
                    ['Commit', c.commit?.subject ?? null],
                    ['Author', c.commit?.author ?? null],
                    ['Emergency', c.emergency],
                    ['Risk', c.trailers.risk],
                    ['Tested', c.trailers.tested],
                    ['Rollback plan', c.trailers.rollback],
                ]}
            />
            <Rows
                level={props.level + 1}
                title='Approvals'
                rows={[
                    ['Verified at the Git host', a.verified ? 'yes' : 'no (commit trailers only)'],
                    ['Summary', a.summary],
                    ['Verdict', a.verdict],
                    ['Reason', a.reason],
                    ['Required per pull request', a.required],
                    ['Approved by', approvers.map(x => `${text(x.login)} at ${text(x.at)} (#${text(x.pull)}, head ${text(x.commit)})`).join('\n')],
                    ['Not counted', dismissed.map(x => `${text(x.login)}: ${text(x.why)}`).join('\n')],
                    ['Claimed by trailers (not evidence)', Array.isArray(a.claimed) ? a.claimed.join('\n') : null],
                    ['Fetched at', a.fetchedAt],
                    ['Snapshot digest', a.snapshotDigest],
                ]}
            />
            <Rows
                level={props.level + 1}
                title='Window'
                rows={[
                    ['Decision', w.summary],
                    ["Guard's reason", w.reason],
                    ['Decided at', w.at],
                    ['Windows', Array.isArray(w.windows) ? w.windows.join('\n') : null],
                ]}
            />
            <Rows
                level={props.level + 1}
                title='Backup, migrations, verification'
                rows={[
                    ['Backup', c.backup.name],
                    ['Backup phase', c.backup.phase],
                    ['Migrations', c.migrations],
                    ['Verification', v.verdict ?? null],
                    ['Verification reason', v.reason ?? null],
                    ['Ticket', c.ticket],
                ]}
            />
            <section>
                <H style={{fontSize: '14px', margin: '12px 0 4px'}}>Findings</H>
                {c.findings.length === 0 ? (
                    <p style={{color: GREEN, fontWeight: 600}}>None.</p>
                ) : (
                    <ul data-testid='sluice-findings'>
                        {c.findings.map(f => (
                            <li key={`${f.seq}-${f.finding}`} style={{color: RED, fontWeight: 600}}>
                                {f.finding} (record {f.seq}, {f.at})
                            </li>
                        ))}
                    </ul>
                )}
            </section>
            <section>
                <H style={{fontSize: '14px', margin: '12px 0 4px'}}>Rollback</H>
                <pre style={{whiteSpace: 'pre-wrap', background: '#f6f8fa', padding: '6px'}}>{c.rollback.length ? c.rollback.join('\n') : '(no history id or backup recorded)'}</pre>
            </section>
            {c.records && (
                <details>
                    <summary>The {c.records.length} records, whole</summary>
                    <pre style={{whiteSpace: 'pre-wrap', wordBreak: 'break-all', fontSize: '11px'}}>{JSON.stringify(c.records, null, 1)}</pre>
                </details>
            )}
        </article>
    );
}
