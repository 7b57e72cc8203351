// sluice's Argo CD UI extension (docs/ui.md): a status-panel item on every Application, an application
// tab with the change history, and a resource tab on Velero Backups and on Jobs (sluice's guard Jobs).
// Built into one IIFE (ui/build.mjs) that uses Argo CD's global React and imports nothing: argocd-server
// pastes every extension file inside a `try { }` block of /extensions.js.
import type {Application, Resource} from './globals';
import {Boundary, Flyout, HistoryTab, ResourceTab, StatusItem} from './view';

const api = window.extensionsAPI;

api.registerStatusPanelExtension(
    (props: {application: Application; openFlyout: () => unknown}) => (
        <Boundary>
            <StatusItem application={props.application} openFlyout={props.openFlyout} />
        </Boundary>
    ),
    'Change',
    'sluice',
    (props: {application: Application}) => (
        <Boundary>
            <Flyout application={props.application} />
        </Boundary>
    ),
);

// The application tab is a resource tab on argoproj.io/Application: its `resource` is the Application.
api.registerResourceExtension(
    (props: {application: Application; resource: Resource}) => (
        <Boundary>
            <HistoryTab application={props.application} />
        </Boundary>
    ),
    'argoproj.io',
    'Application',
    'Changes',
    {icon: 'fa-clipboard-check'},
);

const resourceTab = (props: {application: Application; resource: Resource}) => (
    <Boundary>
        <ResourceTab application={props.application} resource={props.resource} />
    </Boundary>
);
api.registerResourceExtension(resourceTab, 'velero.io', 'Backup', 'Change', {icon: 'fa-clipboard-check'});
api.registerResourceExtension(resourceTab, 'batch', 'Job', 'Change', {icon: 'fa-clipboard-check'});
