// A stand-in for Argo CD's UI in the browser tests: what an extension meets there, and nothing else.
// As ui/src/app/index.tsx: window.React is React, window.ReactDOM is react-dom (which has no `render`
// in React 19). As ui/src/app/shared/services/extensions-service.ts: window.extensionsAPI registers
// resource tabs (group/kind globs), status-panel items (with an optional flyout) and the rest, and the
// views render the components with the props Argo CD gives them: a status-panel item gets
// {application, openFlyout} and its title is never shown; a resource tab gets {resource, tree,
// application}, and on argoproj.io/Application its resource is the Application itself; a flyout gets
// {application, tree}. Extensions come from /extensions.js, loaded after this file.
import * as ReactAll from 'react';
import * as ReactDOM from 'react-dom';
import {createRoot} from 'react-dom/client';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const w = window as Any;
w.React = ReactAll;
w.ReactDOM = ReactDOM;

const registered = {resource: [] as Any[], statusPanel: [] as Any[], appView: [] as Any[], systemLevel: [] as Any[], topBar: [] as Any[]};
w.extensionsAPI = {
    registerResourceExtension(component: Any, group: string, kind: string, tabTitle: string, opts?: {icon: string}) {
        registered.resource.push({component, group, kind, title: tabTitle, icon: opts?.icon});
    },
    registerSystemLevelExtension(component: Any, title: string, path: string, icon: string) {
        registered.systemLevel.push({component, title, path, icon});
    },
    registerAppViewExtension(component: Any, title: string, icon: string, shouldDisplay?: Any) {
        registered.appView.push({component, title, icon, shouldDisplay: shouldDisplay || (() => true)});
    },
    registerStatusPanelExtension(component: Any, title: string, id: string, flyout?: Any) {
        registered.statusPanel.push({component, flyout, title, id});
    },
    registerTopBarActionMenuExt(component: Any, title: string, id: string, flyout: Any) {
        registered.topBar.push({component, title, id, flyout});
    },
};
// The deprecated registry Argo CD still reads (initLegacyExtensions).
w.extensions = {resources: {}};

/** minimatch as Argo CD uses it on group and kind: `*` within a name, `**` anything, else exact. */
function glob(value: string, pattern: string): boolean {
    if (pattern === '**') return true;
    const re = new RegExp('^' + pattern.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '$');
    return re.test(value);
}

const params = new URLSearchParams(location.search);
const application = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {name: params.get('app') || 'shop', namespace: params.get('namespace') || 'argocd'},
    spec: {project: params.get('project') || 'default', destination: {server: 'https://kubernetes.default.svc', namespace: 'production'}},
    status: {sync: {status: 'Synced'}, health: {status: 'Healthy'}},
};
const tree = {nodes: [], orphanedNodes: []};
const resources: Record<string, Any> = {
    backup: {apiVersion: 'velero.io/v1', kind: 'Backup', metadata: {name: params.get('name') || 'pre-change-shop-x7k2p', namespace: 'velero'}, status: {phase: 'Completed'}},
    job: {
        apiVersion: 'batch/v1',
        kind: 'Job',
        metadata: {
            name: params.get('name') || 'sluice-guard-4f3c2b1',
            namespace: 'production',
            labels: {'app.kubernetes.io/managed-by': 'sluice', 'sluice.io/change-id': params.get('change') || 'CHG-1234', 'sluice.io/revision': '4f3c2b1'},
        },
    },
};

function StatusPanel() {
    const [flyout, setFlyout] = ReactAll.useState<string | null>(null);
    const active = registered.statusPanel.find(e => e.id === flyout);
    return (
        <div>
            <div className='application-status-panel row' style={{display: 'flex', gap: '24px', padding: '12px', borderBottom: '1px solid #ccc'}}>
                <div className='application-status-panel__item'>
                    <div className='application-status-panel__item-name'>APP HEALTH</div>
                    <div className='application-status-panel__item-value'>Healthy</div>
                </div>
                {registered.statusPanel.map(ext => (
                    <ext.component key={ext.title} application={application} openFlyout={() => setFlyout(ext.id)} />
                ))}
            </div>
            {active && active.flyout && (
                <aside aria-label='Extension panel' style={{borderLeft: '1px solid #ccc', padding: '12px'}}>
                    <active.flyout application={application} tree={tree} />
                </aside>
            )}
        </div>
    );
}

function ResourceTabs(props: {group: string; kind: string; resource: Any}) {
    const tabs = registered.resource.filter(e => glob(props.group, e.group) && glob(props.kind, e.kind)).sort((a, b) => a.title.localeCompare(b.title));
    return (
        <div>
            {tabs.map((t, i) => (
                <section key={i} aria-label={`Tab ${t.title}`} style={{padding: '12px'}}>
                    <t.component resource={props.resource} tree={tree} application={application} />
                </section>
            ))}
        </div>
    );
}

function Host() {
    const view = params.get('view') || 'status';
    const body =
        view === 'status' ? <StatusPanel /> :
        view === 'app' ? <ResourceTabs group='argoproj.io' kind='Application' resource={application} /> :
        view === 'backup' ? <ResourceTabs group='velero.io' kind='Backup' resource={resources.backup} /> :
        <ResourceTabs group='batch' kind='Job' resource={resources.job} />;
    return (
        <main>
            <h1 style={{fontSize: '18px', padding: '0 12px'}}>Applications / {application.metadata.name}</h1>
            {body}
        </main>
    );
}

document.addEventListener('DOMContentLoaded', () => {
    const root = document.getElementById('app');
    if (root) createRoot(root).render(<Host />);
});
