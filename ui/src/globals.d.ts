// The globals Argo CD's UI gives an extension (ui/src/app/index.tsx sets window.React, typed by
// @types/react's UMD global `React` with allowUmdGlobalAccess; ui/src/app/shared/services/
// extensions-service.ts sets window.extensionsAPI). Types only: nothing here is emitted, and the built
// file imports nothing.
import type * as ReactNamespace from 'react';

declare global {
    interface Window {
        extensionsAPI: ExtensionsAPI;
    }
}

/** The part of an Application the extension reads. */
export interface Application {
    metadata: {name: string; namespace?: string; labels?: Record<string, string>};
    spec: {project?: string};
}

/** A resource as a resource tab receives it (the live manifest). */
export interface Resource {
    apiVersion?: string;
    kind?: string;
    metadata?: {name?: string; namespace?: string; labels?: Record<string, string>};
    status?: {phase?: string};
}

type Component<P> = (props: P) => ReactNamespace.ReactNode;

export interface ExtensionsAPI {
    registerResourceExtension(
        component: Component<{resource: Resource; tree: unknown; application: Application}>,
        group: string,
        kind: string,
        tabTitle: string,
        opts?: {icon: string},
    ): void;
    registerStatusPanelExtension(
        component: Component<{application: Application; openFlyout: () => unknown}>,
        title: string,
        id: string,
        flyout?: Component<{application: Application; tree: unknown}>,
    ): void;
}
