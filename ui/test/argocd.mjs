// An emulated argocd-server for the browser tests, as server/server.go and server/extension/extension.go
// behave (Argo CD itself cannot run here). It serves the host page, and:
// - /extensions.js: every extension*.js file of the extensions directory, each pasted inside
//   `try { … } catch(e) { … }` with a `// source:` line (serveExtensions);
// - /extensions/<name>/…: the proxy extension. The session cookie argocd.token must be valid; the
//   Argocd-Application-Name (NAMESPACE:NAME) and Argocd-Project-Name headers must be present (400);
//   the user must be allowed the app (RBAC, 401 "Unauthorized extension request"); the app's project
//   must be the header's (401). The prefix /extensions/<name> is stripped, Authorization and Cookie are
//   removed, the configured headers are set, and the request goes to the backend (CallExtension,
//   NewProxy, prepareRequest). Like Argo CD, it never compares the header's app with the URL.
// Usage: node argocd.mjs CONFIG.json; prints "listening http://127.0.0.1:PORT".
import http from 'node:http';
import {readFileSync, readdirSync} from 'node:fs';
import {join} from 'node:path';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const here = new URL('.', import.meta.url).pathname;
const dist = join(here, '..', 'dist');

// filepath.Walk's order: lexical, depth first; symlinks and directories are not extension files.
function extensionsJs(dir = config.extensionsDir) {
    let out = '';
    for (const entry of readdirSync(dir, {withFileTypes: true}).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
            out += extensionsJs(path);
        } else if (entry.isFile() && /^extension(.*)\.js$/.test(entry.name)) {
            out += `// source: ${dir}/${entry.name} \ntry {\n${readFileSync(path, 'utf8')}\n} catch(e) { console.error('Extension ${entry.name} failed to load:', e); }\n`;
        }
    }
    return out;
}

function cookie(req, name) {
    for (const part of (req.headers.cookie || '').split(';')) {
        const [k, ...v] = part.trim().split('=');
        if (k === name) return v.join('=');
    }
    return null;
}

function proxy(req, res, extName, rest) {
    const user = config.sessions[cookie(req, 'argocd.token') || ''];
    if (!user) return send(res, 401, 'text/plain', 'Unauthorized');
    const appHeader = req.headers['argocd-application-name'];
    const project = req.headers['argocd-project-name'];
    if (!appHeader) return send(res, 400, 'text/plain', 'Invalid headers: header "Argocd-Application-Name" must be provided');
    const parts = appHeader.split(':');
    if (parts.length !== 2) return send(res, 400, 'text/plain', 'Invalid headers: invalid value for "Argocd-Application-Name" header: expected format: <namespace>:<app-name>');
    if (!project) return send(res, 400, 'text/plain', 'Invalid headers: header "Argocd-Project-Name" must be provided');
    const [namespace, name] = parts;
    const allowed = (user.apps || []).includes(`${namespace}/${name}`) && (user.extensions || []).includes(extName);
    const app = config.apps.find(a => a.namespace === namespace && a.name === name);
    if (!allowed || !app || app.project !== project) return send(res, 401, 'text/plain', 'Unauthorized extension request');
    const ext = config.extensions[extName];
    if (!ext) return send(res, 404, 'text/plain', 'Extension not found');
    const target = new URL(ext.url);
    const headers = {...req.headers};
    delete headers.authorization;
    delete headers.cookie;
    for (const h of ext.headers || []) headers[h.name.toLowerCase()] = h.value;
    headers['argocd-namespace'] = 'argocd';
    headers['argocd-username'] = user.name;
    headers['argocd-target-cluster-url'] = 'https://kubernetes.default.svc';
    headers.host = target.host;
    const out = http.request({host: target.hostname, port: target.port, method: req.method, path: rest, headers}, back => {
        res.writeHead(back.statusCode, back.headers);
        back.pipe(res);
    });
    out.on('error', e => send(res, 502, 'text/plain', `proxy error: ${e.message}`));
    req.pipe(out);
}

function send(res, status, type, body) {
    res.writeHead(status, {'content-type': type});
    res.end(body);
}

const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const m = url.pathname.match(/^\/extensions\/([^/]+)(\/.*)?$/);
    if (m) return proxy(req, res, m[1], (m[2] || '/') + url.search);
    switch (url.pathname) {
        case '/':
            return send(res, 200, 'text/html; charset=utf-8', readFileSync(join(here, 'index.html')));
        case '/host.js':
            return send(res, 200, 'application/javascript', readFileSync(join(dist, 'host.js')));
        case '/axe.min.js':
            return send(res, 200, 'application/javascript', readFileSync(join(dist, 'axe.min.js')));
        case '/extensions.js':
            return send(res, 200, 'application/javascript', extensionsJs());
        default:
            return send(res, 404, 'text/plain', 'not found');
    }
});
server.listen(0, '127.0.0.1', () => {
    console.log(`listening http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
